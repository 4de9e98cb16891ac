"""Detector classes: the order is the YOLO class index, shared by the simulator, training and the node."""

CLASSES: tuple[str, ...] = ("person", "fishing_rod", "boat", "stall", "cart", "vehicle")
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}
