"""Face detectors behind one interface: boxes, 5 landmarks and scores for a batch of images."""

from fer_da.detect.base import Detection, Detector, DetectorUnavailable
from fer_da.detect.registry import build_detector

__all__ = ["Detection", "Detector", "DetectorUnavailable", "build_detector"]
