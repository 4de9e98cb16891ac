"""Object detection: ONNX models (YOLO family, RT-DETR, SSD) behind a motion gate."""

from .detections import Detections
from .detector import Detector, class_mapping
from .gate import DetectionGate, GateTrack, Plan
from .model import ModelError, load_model_folder
from .motion import MotionDetector
from .stage import DetectionStage

__all__ = ["DetectionGate", "DetectionStage", "Detections", "Detector", "GateTrack", "ModelError", "MotionDetector",
           "Plan", "class_mapping", "load_model_folder"]
