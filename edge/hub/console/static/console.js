/* The console's behaviour: JSON API calls with the session's CSRF token, the live event stream,
   the title's unhandled count, the alert tone, the queue's keyboard triage and per-node snooze. */
"use strict";
(function () {
  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  function toast(text, bad) {
    const t = document.getElementById("toast");
    if (!t) return;
    t.textContent = text; t.hidden = false; t.className = bad ? "bad" : "";
    clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
  }
  async function api(method, url, body) {
    const r = await fetch(url, {method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": cookie("edge_csrf")},
      body: body === undefined ? undefined : JSON.stringify(body)});
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) { toast((data && data.detail) || (r.status + " " + r.statusText), true); throw new Error(r.status); }
    return data;
  }
  window.edgeApi = api; window.edgeToast = toast;
  const esc = (t) => String(t).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
  window.edgeEsc = esc;

  // A fragment fetched and swapped in; the promise always settles (a live refresh must never stall).
  async function swap(url, target) {
    const r = await fetch(url, {credentials: "same-origin", headers: {"HX-Request": "true"}});
    if (r.status === 401 || r.redirected) { location.reload(); return; }
    if (!r.ok) throw new Error(r.status);
    const el = document.querySelector(target);
    el.innerHTML = await r.text();
    htmx.process(el);
    el.dispatchEvent(new CustomEvent("edge:swapped", {bubbles: true}));
  }
  window.edgeSwap = swap;

  // The tone: made here (WebAudio), no sound file; muted per browser (localStorage).
  window.edgeBeeps = 0;
  function muted() { return localStorage.getItem("edge-mute") === "1"; }
  function beep() {
    if (muted() || document.body.dataset.sound !== "1") return;
    window.edgeBeeps += 1;
    try {
      const ctx = beep.ctx || (beep.ctx = new (window.AudioContext || window.webkitAudioContext)());
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.08; o.connect(g); g.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.25);
    } catch (e) { /* no audio device: the count still shows the alert */ }
  }
  window.edgeBeep = beep;

  // Per-node snooze: this browser hears no tone and hides the node's rows until the time passes.
  function snoozes() {
    const all = JSON.parse(localStorage.getItem("edge-snooze") || "{}"), now = Date.now(), live = {};
    for (const [node, until] of Object.entries(all)) if (until > now) live[node] = until;
    localStorage.setItem("edge-snooze", JSON.stringify(live));
    return live;
  }
  window.edgeSnoozes = snoozes;

  function setTitle(n) {
    const el = document.querySelector("title"), base = el.dataset.base;
    document.title = (n > 0 ? "(" + n + ") " : "") + base;
    const c = document.getElementById("unhandled");
    if (c) { c.textContent = n; c.dataset.n = n; }
  }
  window.edgeSetTitle = setTitle;

  // One event stream per page; pages add listeners with edgeOn(kind, fn).
  const listeners = {};
  window.edgeOn = function (kind, fn) { (listeners[kind] = listeners[kind] || []).push(fn); };
  function connect() {
    if (!document.body.dataset.role) return;
    const es = new EventSource("/api/events");
    for (const kind of ["incident", "node", "officer", "task", "command"]) {
      es.addEventListener(kind, (ev) => {
        let data = {};
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        if (kind === "incident" && data.created && !snoozes()[data.node]) beep();
        for (const fn of listeners[kind] || []) fn(data);
      });
    }
    es.onopen = () => { document.body.dataset.live = "1"; };
    window.edgeStream = es;
  }

  document.addEventListener("DOMContentLoaded", () => {
    connect();
    const mute = document.getElementById("mute");
    if (mute) {
      const show = () => { mute.textContent = muted() ? mute.dataset.unmute : mute.dataset.mute; };
      show();
      mute.onclick = () => { localStorage.setItem("edge-mute", muted() ? "0" : "1"); show(); };
    }
    const out = document.getElementById("logout");
    if (out) out.onclick = async () => { await api("POST", "/api/logout"); location.href = "/console/login"; };
    const login = document.getElementById("login");
    if (login) login.onsubmit = async (ev) => {
      ev.preventDefault();
      const f = new FormData(login), err = document.getElementById("login-error");
      const r = await fetch("/api/login", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({username: f.get("username"), password: f.get("password")})});
      if (r.ok) { location.href = login.dataset.next; return; }
      let d = {}; try { d = await r.json(); } catch (e) { /* keep the status */ }
      err.textContent = d.detail || r.statusText; err.hidden = false;
    };
  });

  // --- the queue ------------------------------------------------------------------------------
  window.edgeQueue = function (words) {
    let selected = null, busy = false, again = false;
    const rows = () => Array.from(document.querySelectorAll("#rows tr.incident"))
      .filter((r) => !snoozes()[r.dataset.node]);
    function applySnooze() {
      const live = snoozes(), box = document.getElementById("snoozes");
      for (const r of document.querySelectorAll("#rows tr.incident")) r.hidden = !!live[r.dataset.node];
      box.innerHTML = "";
      for (const [node, until] of Object.entries(live)) {
        const b = document.createElement("button");
        b.type = "button"; b.className = "resume"; b.dataset.node = node;
        b.textContent = node + " " + words.snoozed + " → " + new Date(until).toLocaleTimeString() + " · " + words.resume;
        b.onclick = () => { const s = snoozes(); delete s[node]; localStorage.setItem("edge-snooze", JSON.stringify(s)); applySnooze(); };
        box.appendChild(b);
      }
      const meta = document.getElementById("meta");
      if (meta) setTitle(parseInt(meta.dataset.unhandled, 10));
      select(selected && document.querySelector('#rows tr[data-id="' + selected + '"]:not([hidden])') ? selected : null);
    }
    function select(id) {
      const list = rows();
      if (id === null && list.length) id = list[0].dataset.id;
      selected = id;
      for (const r of list) r.classList.toggle("selected", r.dataset.id === id);
    }
    function move(step) {
      const list = rows(), i = list.findIndex((r) => r.dataset.id === selected);
      const next = list[Math.max(0, Math.min(list.length - 1, i + step))];
      if (next) { select(next.dataset.id); next.scrollIntoView({block: "nearest"}); }
    }
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      const params = new URLSearchParams(new FormData(document.getElementById("filters"))).toString();
      swap("/console/queue/rows?" + params, "#rows").catch(() => {})
        .finally(() => { busy = false; if (again) { again = false; refresh(); } });
    }
    window.edgeRefresh = refresh;
    async function ack(id) {
      await api("POST", "/api/incidents/" + id + "/transition", {to: "acknowledged"});
      refresh();
    }
    const dialog = document.getElementById("dismiss"), form = document.getElementById("dismiss-form");
    function dismiss(id) {
      if (!dialog) return;
      form.dataset.id = id; document.getElementById("dismiss-id").textContent = "#" + id;
      form.reset(); dialog.showModal(); form.reason.focus();
    }
    if (form) {
      form.onsubmit = async (ev) => {
        ev.preventDefault();
        const id = form.dataset.id;
        await api("POST", "/api/incidents/" + id + "/transition",
          {to: "dismissed", reason: form.reason.value, comment: form.comment.value});
        dialog.close(); refresh();
      };
      document.getElementById("dismiss-cancel").onclick = () => dialog.close();
      form.addEventListener("keydown", (ev) => {
        if (ev.target.name === "comment") return;
        const n = parseInt(ev.key, 10);
        if (n >= 1 && n <= form.reason.options.length) { form.reason.selectedIndex = n - 1; ev.preventDefault(); }
      });
    }
    document.getElementById("rows").addEventListener("click", (ev) => {
      const tr = ev.target.closest("tr.incident");
      if (!tr) return;
      select(tr.dataset.id);
      if (ev.target.classList.contains("ack")) ack(tr.dataset.id);
      else if (ev.target.classList.contains("dismiss")) dismiss(tr.dataset.id);
      else if (ev.target.classList.contains("snooze")) {
        const s = snoozes(); s[tr.dataset.node] = Date.now() + 3600 * 1000;
        localStorage.setItem("edge-snooze", JSON.stringify(s)); applySnooze();
      }
    });
    document.addEventListener("keydown", (ev) => {
      if (dialog && dialog.open) return;
      if (["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName)) return;
      const tr = selected && document.querySelector('#rows tr[data-id="' + selected + '"]');
      if (ev.key === "j" || ev.key === "ArrowDown") { move(1); ev.preventDefault(); }
      else if (ev.key === "k" || ev.key === "ArrowUp") { move(-1); ev.preventDefault(); }
      else if (tr && ev.key === "a" && tr.querySelector(".ack")) ack(selected);
      else if (tr && ev.key === "d" && tr.querySelector(".dismiss")) { ev.preventDefault(); dismiss(selected); }
      else if (tr && (ev.key === "Enter" || ev.key === "o")) location.href = "/console/incidents/" + selected;
    });
    document.body.addEventListener("htmx:afterSwap", (ev) => { if (ev.detail.target.id === "rows") applySnooze(); });
    document.body.addEventListener("edge:swapped", (ev) => { if (ev.target.id === "rows") applySnooze(); });
    edgeOn("incident", refresh);
    setInterval(applySnooze, 30000);  // a snooze ends by itself
    setInterval(refresh, 60000);  // overdue marks appear as the clock passes the targets
    applySnooze();
  };

  // --- the incident page ----------------------------------------------------------------------
  window.edgeIncident = function (id, node) {
    const live = document.getElementById("live");
    let busy = false, again = false;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      // What the dispatcher is typing or has chosen survives the live refresh.
      const kept = {};
      for (const el of live.querySelectorAll("input[id], select[id]")) kept[el.id] = el.value;
      const focus = document.activeElement && document.activeElement.id;
      swap("/console/incidents/" + id + "/live", "#live")
        .then(() => {
          for (const [k, v] of Object.entries(kept)) { const el = document.getElementById(k); if (el) el.value = v; }
          if (focus && document.getElementById(focus)) document.getElementById(focus).focus();
        })
        .catch(() => {})
        .finally(() => { busy = false; if (again) { again = false; refresh(); } });
    }
    window.edgeRefresh = refresh;
    const mine = (d) => d.id === id || d.incident === id;
    edgeOn("incident", (d) => { if (mine(d)) refresh(); });
    edgeOn("task", (d) => { if (mine(d)) refresh(); });
    edgeOn("command", (d) => { if (d.node === node) refresh(); });
    function command(name, args) {
      return api("POST", "/api/nodes/" + encodeURIComponent(node) + "/commands", {name, args, incident: id})
        .then(refresh);
    }
    live.addEventListener("click", async (ev) => {
      const b = ev.target;
      const comment = () => (document.getElementById("t-comment") || {}).value || "";
      if (b.classList.contains("to")) {
        const body = {to: b.dataset.to, comment: comment()};
        if (b.dataset.to === "dismissed") body.reason = document.getElementById("t-reason").value;
        await api("POST", "/api/incidents/" + id + "/transition", body);
        document.getElementById("t-comment").value = ""; refresh();
      } else if (b.classList.contains("dispatch")) {
        await api("POST", "/api/incidents/" + id + "/dispatch", {officer: b.dataset.officer, note: comment()});
        refresh();
      } else if (b.id === "speak-clip") {
        await command("speak", {clip: document.getElementById("clip-name").value});
      } else if (b.id === "speak-text-go") {
        const text = document.getElementById("speak-text").value.trim();
        if (text) await command("speak", {text});
      } else if (b.id === "snapshot") {
        await command("snapshot", {thumbnail: 640});
      }
    });
  };

  // --- the map --------------------------------------------------------------------------------
  window.edgeMap = function (opts) {
    const map = L.map("map", {attributionControl: false, maxZoom: opts.maxZoom});
    if (opts.tiles) L.tileLayer("/console/tiles/{z}/{x}/{y}.png", {maxZoom: opts.maxZoom}).addTo(map);
    const colours = {online: "#2f855a", degraded: "#b7791f", offline: "#c53030"};
    const layers = {nodes: L.layerGroup().addTo(map), incidents: L.layerGroup().addTo(map),
                    officers: L.layerGroup().addTo(map)};
    const state = {officers: {}, nodes: {}, incidents: {}, fitted: false};
    window.edgeMapState = state;
    fetch("/console/map/sites.geojson").then((r) => r.json()).then((g) => {
      const outline = L.geoJSON(g, {style: {color: "#4a5568", weight: 2, fillColor: "#cbd5e0", fillOpacity: 0.4}})
        .bindTooltip((l) => esc((l.feature.properties || {}).name || "")).addTo(map);
      if (g.features && g.features.length) { map.fitBounds(outline.getBounds().pad(0.3)); state.fitted = true; }
      load();
    });
    function load() {
      return fetch("/console/map/data").then((r) => r.json()).then((d) => {
        for (const l of Object.values(layers)) l.clearLayers();
        state.nodes = {}; state.incidents = {}; state.officers = {};
        const points = [];
        for (const n of d.nodes) {
          L.circleMarker([n.lat, n.lon], {radius: 9, color: colours[n.state], fillOpacity: 0.8})
            .bindTooltip(esc(n.id + " · " + n.state)).addTo(layers.nodes);
          state.nodes[n.id] = n; points.push([n.lat, n.lon]);
        }
        for (const i of d.incidents) {
          L.marker([i.lat, i.lon], {icon: L.divIcon({className: "", html: '<b style="color:#c53030;font-size:18px">▲</b>'})})
            .bindTooltip(esc("#" + i.id + " " + i.rule + " · " + i.state))
            .on("click", () => { location.href = "/console/incidents/" + i.id; }).addTo(layers.incidents);
          state.incidents[i.id] = i;
        }
        for (const o of d.officers) {
          L.marker([o.lat, o.lon], {icon: L.divIcon({className: "", html: '<b style="color:#2b6cb0;font-size:18px">◆</b>'})})
            .bindTooltip(esc(o.name)).addTo(layers.officers);
          state.officers[o.id] = [o.lat, o.lon]; points.push([o.lat, o.lon]);
        }
        if (!state.fitted && points.length) { map.fitBounds(L.latLngBounds(points).pad(0.3)); state.fitted = true; }
        if (!state.fitted) map.setView([30, 120], 3);
        state.loads = (state.loads || 0) + 1;
      });
    }
    let timer = null;
    const soon = () => { clearTimeout(timer); timer = setTimeout(load, 100); };
    for (const kind of ["node", "officer", "incident", "task"]) edgeOn(kind, soon);
    setInterval(load, 60000);  // degraded (stale stats) shows as the clock runs
    window.edgeMapLoad = load;
  };

  // --- the zone editor ------------------------------------------------------------------------
  window.edgeZones = function (node, zones, canEdit, words) {
    const svg = document.getElementById("shapes"), W = 640, H = 480, NS = "http://www.w3.org/2000/svg";
    const colours = ["#f6e05e", "#68d391", "#63b3ed", "#fc8181", "#b794f4"];
    window.edgeZoneState = zones;
    let drag = null;
    function draw() {
      svg.innerHTML = "";
      const which = document.getElementById("which");
      if (which) which.innerHTML = zones.map((z) => "<option>" + esc(z.name) + "</option>").join("");
      zones.forEach((z, zi) => {
        const c = colours[zi % colours.length], poly = document.createElementNS(NS, "polygon");
        poly.setAttribute("points", z.polygon.map(([x, y]) => x * W + "," + y * H).join(" "));
        poly.setAttribute("fill", c); poly.setAttribute("fill-opacity", "0.25"); poly.setAttribute("stroke", c);
        poly.setAttribute("stroke-width", "2"); poly.dataset.zone = z.name; svg.appendChild(poly);
        const label = document.createElementNS(NS, "text");
        label.setAttribute("x", z.polygon[0][0] * W + 4); label.setAttribute("y", z.polygon[0][1] * H - 4);
        label.setAttribute("fill", c); label.textContent = z.name; svg.appendChild(label);
        z.polygon.forEach(([x, y], pi) => {
          const h = document.createElementNS(NS, "circle");
          h.setAttribute("cx", x * W); h.setAttribute("cy", y * H); h.setAttribute("r", canEdit ? 7 : 3);
          h.setAttribute("fill", c); h.setAttribute("class", "vertex");
          h.dataset.zone = z.name; h.dataset.point = pi;
          if (canEdit) h.addEventListener("pointerdown", (ev) => { drag = [zi, pi]; ev.preventDefault(); });
          svg.appendChild(h);
        });
      });
    }
    svg.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      const r = svg.getBoundingClientRect();
      const x = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
      const y = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
      zones[drag[0]].polygon[drag[1]] = [Math.round(x * 1000) / 1000, Math.round(y * 1000) / 1000];
      const keep = drag; draw(); drag = keep;
    });
    window.addEventListener("pointerup", () => { drag = null; });
    draw();
    if (!canEdit) return;
    const result = document.getElementById("zone-result");
    document.getElementById("add-zone").onclick = () => {
      const name = document.getElementById("new-name").value.trim();
      if (!name) return;
      zones.push({name, polygon: [[0.4, 0.2], [0.6, 0.2], [0.6, 0.4], [0.4, 0.4]]}); draw();
    };
    document.getElementById("remove-zone").onclick = () => {
      const name = document.getElementById("which").value;
      zones.splice(zones.findIndex((z) => z.name === name), 1); draw();
    };
    document.getElementById("snap").onclick = async () => {
      const r = await api("POST", "/api/nodes/" + node + "/commands", {name: "snapshot", args: {thumbnail: 640}});
      const wait = async () => {
        const c = await api("GET", "/api/commands/" + r.id);
        if (c.state === "sent") return setTimeout(wait, 300);
        if (c.ok) location.reload();
      };
      wait();
    };
    document.getElementById("save-zones").onclick = async () => {
      result.dataset.state = ""; result.className = "";
      let r;
      try {
        r = await api("POST", "/api/nodes/" + node + "/zones",
          {zones: zones.map((z) => ({name: z.name, polygon: z.polygon}))});
      } catch (e) {
        result.textContent = document.getElementById("toast").textContent; result.dataset.state = "refused";
        result.className = "bad"; return;
      }
      result.textContent = words.sent + " " + r.command; result.dataset.state = "sent";
      const poll = async () => {
        const a = await api("GET", "/api/nodes/" + node + "/zones/" + r.command);
        if (a.state === "sent") return setTimeout(poll, 300);
        result.dataset.state = a.ok ? "applied" : "failed"; result.className = a.ok ? "" : "bad";
        result.textContent = a.ok ? words.done + ": " + JSON.stringify(a.data) : words.failed + ": " + a.error;
      };
      poll();
    };
  };
})();
