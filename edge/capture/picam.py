"""`picamera2:` source: the Raspberry Pi camera, main stream for evidence plus lores for detection.

picamera2 comes from Raspberry Pi OS (apt install python3-picamera2), so it is imported only when
this source opens; anywhere else the node says so in one line.
"""

from __future__ import annotations

import cv2

from .base import Capture, FrameSource, SourceError

NOT_AVAILABLE = (
    "picamera2: not available on this machine; the picamera2 source needs Raspberry Pi OS with "
    "python3-picamera2 installed (sudo apt install python3-picamera2) and a virtualenv made with "
    "--system-site-packages (make does this on a Pi)"
)


def _import_picamera2():
    try:
        from picamera2 import Picamera2  # type: ignore[import-not-found]
    except Exception:  # ImportError, or libcamera failing to load underneath it
        raise SourceError(NOT_AVAILABLE) from None
    return Picamera2


class Picamera2Source(FrameSource):
    def __init__(self, *, size: tuple[int, int] | None = None, lores_size: tuple[int, int] = (640, 360),
                 fps: float | None = None, **kwargs):
        super().__init__("picamera2:", **kwargs)
        self.size = size or (1280, 720)
        self.lores_size = lores_size
        self.fps = fps
        self._cam = None

    def _preflight(self) -> None:
        _import_picamera2()

    def _open(self) -> None:
        picamera2 = _import_picamera2()
        try:
            cam = picamera2()
            controls = {"FrameRate": float(self.fps)} if self.fps else {}
            # RGB888 arrays are B, G, R in memory: what OpenCV expects.  The lores stream must be YUV.
            config = cam.create_video_configuration(
                main={"size": tuple(self.size), "format": "RGB888"},
                lores={"size": tuple(self.lores_size), "format": "YUV420"},
                controls=controls,
            )
            cam.configure(config)
            cam.start()
        except SourceError:
            raise
        except Exception as exc:  # no camera connected, camera busy, bad size
            raise SourceError(f"picamera2: cannot start the camera: {exc}", transient=True) from None
        self._cam = cam

    def _grab(self) -> Capture | None:
        try:
            (main, lores), _metadata = self._cam.capture_arrays(["main", "lores"])
        except Exception as exc:
            raise SourceError(f"picamera2: capture failed: {exc}", transient=True) from None
        lores_bgr = cv2.cvtColor(lores, cv2.COLOR_YUV2BGR_I420)[:, : self.lores_size[0]]
        return Capture(main[:, :, :3], lores=lores_bgr)

    def _close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            except Exception:
                pass
            self._cam = None
