"""The console's words, zh-CN first (the default) and English (the switch in the header, a cookie)."""

from __future__ import annotations

LANGS = ("zh", "en")
COOKIE = "edge_lang"

WORDS: dict[str, tuple[str, str]] = {
    "title": ("指挥中心", "Command centre"),
    "queue": ("事件队列", "Queue"), "map": ("地图", "Map"), "nodes": ("设备", "Nodes"),
    "stats": ("统计", "Statistics"), "logout": ("退出", "Sign out"), "login": ("登录", "Sign in"),
    "username": ("用户名", "User name"), "password": ("密码", "Password"),
    "unhandled": ("未处理", "unhandled"), "mute": ("静音", "Mute"), "unmute": ("取消静音", "Unmute"),
    "node": ("设备", "Node"), "rule": ("规则", "Rule"), "zone": ("区域", "Zone"), "state": ("状态", "State"),
    "date": ("日期", "Date"), "all": ("全部", "all"), "open_states": ("未结", "open"),
    "opened": ("发现时间", "Opened"), "level": ("级别", "Level"), "overdue": ("超时", "overdue"),
    "acknowledge": ("确认", "Acknowledge"), "dismiss": ("误报排除", "Dismiss"), "open": ("打开", "Open"),
    "reason": ("原因", "Reason"), "comment": ("备注", "Comment"), "cancel": ("取消", "Cancel"),
    "confirm": ("确定", "Confirm"), "snooze": ("静默 1 小时", "Snooze 1 h"), "snooze_short": ("静默", "Snooze"),
    "snoozed": ("已静默", "snoozed"),
    "resume": ("恢复", "Resume"), "keyhelp": ("键盘: j/k 选择, a 确认, d 排除, Enter 打开",
                                            "Keys: j/k select, a acknowledge, d dismiss, Enter open"),
    "none": ("暂无事件", "No incidents"),
    "new": ("新", "new"), "acknowledged": ("已确认", "acknowledged"), "dispatched": ("已派单", "dispatched"),
    "on_scene": ("处置中", "on scene"), "resolved": ("已核查", "resolved"), "closed": ("已结案", "closed"),
    "dismissed": ("已排除", "dismissed"), "warning": ("预警", "warning"), "alert": ("告警", "alert"),
    "cleared": ("已解除", "cleared"),
    "wrong_object": ("识别错误", "wrong object"), "authorised": ("已授权", "authorised"),
    "duplicate": ("重复", "duplicate"), "test": ("测试", "test"), "other": ("其他", "other"),
    "incident": ("事件", "Incident"), "snapshots": ("抓拍", "Snapshots"), "annotated": ("标注", "annotated"),
    "clean": ("原图", "clean"), "clip": ("视频", "Clip"), "timeline": ("时间线", "Timeline"),
    "basis": ("依据", "Basis"), "objects": ("目标", "Objects"), "evidence": ("证据", "Evidence"),
    "verified": ("已验证", "verified"), "tampered": ("已被篡改", "tampered"),
    "unverified": ("未验证", "not verified"), "details": ("详情", "Details"), "signature": ("签名", "Signature"),
    "chain": ("链位置", "Chain position"), "files": ("文件", "Files"), "no_evidence": ("暂无证据", "No evidence yet"),
    "speak": ("喊话", "Speak"), "text": ("文字", "Text"), "send": ("发送", "Send"), "played": ("已播放", "played"),
    "sent": ("已发送", "sent"), "failed": ("失败", "failed"), "done": ("完成", "done"),
    "snapshot_now": ("立即抓拍", "Snapshot now"), "dispatch": ("派单", "Dispatch"),
    "nearest": ("最近的执法人员", "Nearest officers"), "distance": ("距离", "Distance"), "eta": ("预计到达", "ETA"),
    "no_officer": ("无可用人员", "No officer available"), "transitions": ("流转", "Transitions"),
    "export": ("导出案件", "Export case"), "print": ("打印摘要", "Printable summary"),
    "commands": ("指令", "Commands"), "audit": ("操作记录", "Audit trail"), "actor": ("操作人", "Actor"),
    "online": ("在线", "online"), "offline": ("离线", "offline"), "degraded": ("降级", "degraded"),
    "officers": ("执法人员", "Officers"), "last_seen": ("最后上报", "Last seen"), "fps": ("帧率", "fps"),
    "inference": ("推理 ms", "inference ms"), "disk": ("磁盘", "disk"), "temperature": ("温度", "temperature"),
    "outbox": ("待发", "outbox"), "awaiting": ("待回执", "awaiting receipt"), "model": ("模型", "model"),
    "version": ("版本", "version"), "zones": ("区域编辑", "Zone editor"), "save": ("保存并下发", "Save and send"),
    "add_zone": ("添加区域", "Add zone"), "remove_zone": ("删除区域", "Remove zone"),
    "no_profile": ("hub 上没有此设备的配置文件", "The hub holds no profile of this node"),
    "per_day": ("每日事件", "Incidents per day"), "per_node": ("各设备事件", "Incidents per node"),
    "per_rule": ("各规则事件", "Incidents per rule"), "false_rate": ("误报率", "False-alarm rate"),
    "times": ("响应时间 (p50 / p90, 秒) 与目标", "Response times (p50 / p90, s) against targets"),
    "to_ack": ("确认", "acknowledge"), "to_dispatch": ("派单", "dispatch"), "to_scene": ("到场", "on scene"),
    "admin": ("管理", "Admin"), "users": ("用户", "Users"), "add_user": ("添加用户", "Add user"),
    "add_officer": ("登记执法人员", "Register officer"), "name": ("姓名", "Name"), "badge": ("警号", "Badge"),
    "device": ("设备序列号", "Device serial"),
    "passwd_hint": ("改口令或角色: POST /api/users/NAME 或 edge-hub user passwd（会结束其会话）",
                    "New password or role: POST /api/users/NAME or edge-hub user passwd (ends the sessions)"),
    "target": ("目标", "target"), "within": ("达标", "within target"), "viewer_note": ("只读账户", "read-only account"),
}


def words(lang: str) -> dict[str, str]:
    i = 0 if lang != "en" else 1
    return {k: v[i] for k, v in WORDS.items()}


def pick(request_lang: str | None, cookie: str | None) -> str:
    for value in (request_lang, cookie):
        if value in LANGS:
            return value
    return "zh"
