"""One parser per native layout (shared/DATASETS.md).

A parser turns a :class:`RawTree` and its options into rows (one per image, with the layout's
own metadata and a ``key`` naming what makes the image unique) and rejects (path, reason,
detail). Parsers never guess: a name they cannot read is a reject.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from fer_da.ingest.numbers import finite_number, whole_number
from fer_da.ingest.tree import (
    IMAGE_SUFFIXES,
    RawTree,
    box_ref,
    parse_pixel_string,
    read_csv_lines,
)
from fer_da.validate import ConfigError, as_bool, as_float, as_int, as_str_list


@dataclass
class Parsed:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, str]] = field(default_factory=list)
    metadata_files: list[str] = field(default_factory=list)  # label/index files that were read

    def reject(self, path: str, reason: str, detail: str = "") -> None:
        self.rejects.append({"path": path, "reason": reason, "detail": detail})


def is_image_name(rel: str) -> bool:
    return PurePosixPath(rel).suffix.lower() in IMAGE_SUFFIXES


def _non_images(tree: RawTree, out: Parsed, keep: Callable[[str], bool] = lambda _: False):
    """Yield image paths; non-image files become ``non_image`` rejects unless ``keep``."""
    for rel in tree.files:
        if is_image_name(rel):
            yield rel
        elif not keep(rel):
            out.reject(rel, "non_image", f"suffix {PurePosixPath(rel).suffix or '(none)'!r}")


# --- KDEF -------------------------------------------------------------------------------------
# any suffix of IMAGE_SUFFIXES (non-images are rejected before the name is read)
KDEF_NAME = re.compile(r"^([AB])([FM])(\d\d)(AF|AN|DI|HA|NE|SA|SU)(S|HL|HR|FL|FR)\.\w+$",
                       re.IGNORECASE | re.ASCII)
KDEF_LABELS = {"AF": "fear", "AN": "anger", "DI": "disgust", "HA": "happiness",
               "NE": "neutral", "SA": "sadness", "SU": "surprise"}


def parse_kdef(tree: RawTree, options: Mapping[str, Any]) -> Parsed:
    """``KDEF/AF01/AF01ANS.JPG``: session, gender, person, expression, angle."""
    angles = {a.upper() for a in as_str_list(options.get("angles", ["S"]), "options.angles")}
    sessions = {s.upper() for s in as_str_list(options.get("sessions", ["A", "B"]),
                                               "options.sessions")}
    if not angles <= {"S", "HL", "HR", "FL", "FR"} or not sessions <= {"A", "B"}:
        raise ConfigError(f"kdef options: angles must be among S, HL, HR, FL, FR and sessions "
                          f"among A, B; got {sorted(angles)} and {sorted(sessions)}")
    out = Parsed()
    for rel in _non_images(tree, out):
        name = PurePosixPath(rel).name
        m = KDEF_NAME.match(name)
        if not m:
            out.reject(rel, "unknown_name", "does not match the KDEF naming scheme")
            continue
        session, gender, number, code, angle = (g.upper() for g in m.groups()[:5])
        if angle not in angles:
            out.reject(rel, "excluded_angle", f"angle {angle} not in {sorted(angles)}")
            continue
        if session not in sessions:
            out.reject(rel, "excluded_session", f"session {session} not in {sorted(sessions)}")
            continue
        out.rows.append({
            "path": rel, "subject": f"{gender}{number}", "label": KDEF_LABELS[code],
            "session": session, "angle": angle, "key": f"{session}{gender}{number}{code}{angle}",
        })
    return out


# --- CK+ --------------------------------------------------------------------------------------
CK_FRAME = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})\.\w+$", re.IGNORECASE | re.ASCII)
CK_EMOTION = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})_emotion\.txt$", re.IGNORECASE | re.ASCII)
CK_CODES = {0: "neutral", 1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happiness",
            6: "sadness", 7: "surprise"}
CK_IGNORED_FOLDERS = ("Landmarks/", "FACS/")


def parse_ckplus(tree: RawTree, options: Mapping[str, Any]) -> Parsed:
    """``cohn-kanade-images/S005/001/*.png`` + ``Emotion/S005/001/*_emotion.txt``.

    The last ``peak_frames`` frames of a labelled sequence take its label; its first frame is
    neutral when ``neutral_first_frame``; unlabelled sequences are rejected, frame by frame.
    """
    peak = as_int(options.get("peak_frames", 3), "options.peak_frames", minimum=1)
    neutral_first = as_bool(options.get("neutral_first_frame", True),
                            "options.neutral_first_frame")
    out = Parsed()
    sequences: dict[tuple[str, str], list[tuple[int, str]]] = {}
    labels: dict[tuple[str, str], tuple[int, str, str]] = {}
    for rel in tree.files:
        name = PurePosixPath(rel).name
        if rel.startswith(CK_IGNORED_FOLDERS):
            out.reject(rel, "ignored_folder", "Landmarks/ and FACS/ are not used")
        elif m := CK_EMOTION.match(name):
            try:
                code = whole_number(tree.read_text(rel), "emotion code")
                if code not in CK_CODES:
                    raise ValueError(f"code {code} is not 0..7")
            except ValueError as exc:  # 'abc', 'nan', 'inf', '1e999', '2.5', not UTF-8
                out.reject(rel, "bad_label_file", f"{type(exc).__name__}: {exc}")
                continue
            labels[(m[1].upper(), m[2])] = (int(m[3]), CK_CODES[code], rel)
        elif not is_image_name(rel):
            out.reject(rel, "non_image", f"suffix {PurePosixPath(rel).suffix or '(none)'!r}")
        elif m := CK_FRAME.match(name):
            sequences.setdefault((m[1].upper(), m[2]), []).append((int(m[3]), rel))
        else:
            out.reject(rel, "unknown_name", "does not match S###_###_########.<image>")
    for (subject, seq), (frame, _label, rel) in sorted(labels.items()):
        if frame not in {f for f, _ in sequences.get((subject, seq), [])}:
            out.reject(rel, "label_without_image", f"frame {frame} of {subject}/{seq} has no image")
            del labels[(subject, seq)]
    for (subject, seq), frames in sorted(sequences.items()):
        frames.sort()
        if (subject, seq) not in labels:
            for _, rel in frames:
                out.reject(rel, "unlabelled_sequence", f"{subject}/{seq} has no Emotion file")
            continue
        last, label, label_rel = labels[(subject, seq)]
        out.metadata_files.append(label_rel)
        upto = [(f, rel) for f, rel in frames if f <= last]
        chosen = {rel: label for _, rel in upto[-peak:]}
        if neutral_first and upto[0][1] not in chosen:
            chosen[upto[0][1]] = "neutral"
        for f, rel in frames:
            if rel in chosen:
                out.rows.append({
                    "path": rel, "subject": subject, "label": chosen[rel], "sequence": seq,
                    "frame": f, "label_file": label_rel if chosen[rel] == label else None,
                    "key": f"{subject}_{seq}_{f:08d}",
                })
            else:
                reason = "after_peak_frame" if f > last else "intermediate_frame"
                out.reject(rel, reason, f"frame {f} of {subject}/{seq} (peak {last})")
    return out


# --- JAFFE ------------------------------------------------------------------------------------
JAFFE_NAME = re.compile(r"^([A-Z]{2})\.(AN|DI|FE|HA|NE|SA|SU)(\d+)\.(\d+)\.\w+$",
                        re.IGNORECASE | re.ASCII)
JAFFE_LABELS = {"AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happiness",
                "NE": "neutral", "SA": "sadness", "SU": "surprise"}


def parse_jaffe(tree: RawTree, options: Mapping[str, Any]) -> Parsed:
    """Flat folder of ``KA.AN1.39.tiff``: subject, expression + repetition, serial number."""
    out = Parsed()
    for rel in _non_images(tree, out):
        m = JAFFE_NAME.match(PurePosixPath(rel).name)
        if not m:
            out.reject(rel, "unknown_name", "does not match the JAFFE naming scheme")
            continue
        subject, code, rep, serial = m[1].upper(), m[2].upper(), int(m[3]), int(m[4])
        out.rows.append({"path": rel, "subject": subject, "label": JAFFE_LABELS[code],
                         "repetition": rep, "serial": serial,
                         "key": f"{subject}.{code}{rep}.{serial}"})
    return out


# --- folder per class ---------------------------------------------------------------------
SPLITS = ("train", "val", "test")


def _mapping(options: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = options.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"options.{key} must be a mapping of folder names, got {value!r}")
    return value


def _class_map(options: Mapping[str, Any], vocabulary: tuple[str, ...]) -> dict[str, str]:
    mapping = {str(k).lower(): v for k, v in _mapping(options, "classes").items()}
    for name in vocabulary:
        mapping.setdefault(name, name)
    bad = sorted({str(v) for v in mapping.values() if v not in vocabulary})
    if bad:
        raise ConfigError(f"options.classes: targets {bad} are not labels of "
                          f"{list(vocabulary)}")
    return mapping


def _split_map(options: Mapping[str, Any]) -> dict[str, str] | None:
    """``splits: {Train: train, Val: test}``: the folder level above the classes."""
    if options.get("splits") is None:
        return None
    mapping = {str(k).lower(): v for k, v in _mapping(options, "splits").items()}
    bad = sorted({str(v) for v in mapping.values() if v not in SPLITS})
    if bad or not mapping:
        raise ConfigError(f"options.splits maps folder names to {list(SPLITS)}; got {bad}")
    return mapping


def parse_folder(tree: RawTree, options: Mapping[str, Any],
                 vocabulary: tuple[str, ...] = ()) -> Parsed:
    """``root/<class>/<file>``, or ``root/<split>/<class>/<file>`` with ``splits``.

    A configurable class-name map (``classes``), split-folder map (``splits``) and subject
    regex (``subject_regex``, its ``subject`` group or first group).
    """
    mapping = _class_map(options, vocabulary)
    splits = _split_map(options)
    regex = re.compile(options["subject_regex"]) if options.get("subject_regex") else None
    depth = 3 if splits else 2
    out = Parsed()
    for rel in _non_images(tree, out):
        parts = PurePosixPath(rel).parts
        if len(parts) < depth:
            where = "root/<split>/<class>/" if splits else "root/<class>/"
            out.reject(rel, "outside_class_folder", f"images must sit in {where}")
            continue
        folder = parts[-2].lower()
        source_split = None
        if splits:
            source_split = splits.get(parts[-3].lower())
            if source_split is None:
                out.reject(rel, "unknown_split_folder",
                           f"folder {parts[-3]!r} is not in options.splits")
                continue
        if folder not in mapping:
            out.reject(rel, "unknown_class", f"folder {parts[-2]!r} is not in the class mapping")
            continue
        subject = "unknown"
        if regex:
            m = regex.search(parts[-1])
            if not m:
                out.reject(rel, "unknown_name", f"no subject in the name (regex {regex.pattern})")
                continue
            subject = m.groupdict().get("subject") or m.group(1)
        out.rows.append({"path": rel, "subject": subject, "label": mapping[folder],
                         "class_folder": parts[-2], "source_split": source_split,
                         "key": rel.lower()})
    return out


# --- CSV manifest ---------------------------------------------------------------------------
def _read_table(tree: RawTree, name: str, layout: str, required: set[str]):
    if not tree.has_metadata(name):
        raise FileNotFoundError(f"{layout} layout: {tree.root / name} does not exist")
    header, records, bad = read_csv_lines(tree.read_metadata(name), str(tree.root / name))
    missing = required - set(header)
    if missing:
        raise ValueError(f"{layout} layout: {tree.root / name} lacks columns {sorted(missing)}")
    out = Parsed(metadata_files=[name])
    for line, problem in bad:
        out.reject(f"{name}#line={line}", "bad_row", problem)
    return records, out


def parse_csv(tree: RawTree, options: Mapping[str, Any],
              vocabulary: tuple[str, ...] = ()) -> Parsed:
    """``manifest.csv`` with ``path,label[,subject][,split]`` relative to the CSV."""
    manifest = options.get("file", "manifest.csv")
    label_map = {str(k).lower(): v for k, v in (options.get("label_map") or {}).items()}
    records, out = _read_table(tree, manifest, "csv", {"path", "label"})
    base = PurePosixPath(manifest).parent
    files = set(tree.files)
    referenced = set()
    for line, rec in records:
        rel = (base / rec["path"]).as_posix()
        label = label_map.get(rec["label"].lower(), rec["label"].lower())
        ref = f"{manifest}#line={line}"
        split = (rec.get("split") or "").strip().lower() or None
        if rel not in files:
            out.reject(ref, "missing_image", f"{rel} does not exist")
        elif split is not None and split not in SPLITS:
            referenced.add(rel)
            out.reject(rel, "bad_row", f"{ref}: split {rec['split']!r} is not one of {SPLITS}")
        elif label not in vocabulary:
            referenced.add(rel)
            out.reject(rel, "unknown_label", f"label {rec['label']!r} ({ref})")
        else:
            referenced.add(rel)
            out.rows.append({"path": rel, "subject": rec.get("subject") or "unknown",
                             "label": label, "source_split": split, "key": rel.lower()})
    for rel in tree.files:
        if rel in referenced or rel == manifest:
            continue
        reason = "unreferenced_image" if is_image_name(rel) else "non_image"
        out.reject(rel, reason, f"not listed in {manifest}")
    return out


# --- FER2013 --------------------------------------------------------------------------------
FER2013_LABELS = {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "sadness",
                  5: "surprise", 6: "neutral"}
FER2013_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def parse_fer2013(tree: RawTree, options: Mapping[str, Any]) -> Parsed:
    """``fer2013.csv`` with ``emotion,pixels,Usage``: each row is one 48x48 grey image."""
    name = options.get("file", "fer2013.csv")
    records, out = _read_table(tree, name, "fer2013", {"emotion", "pixels"})
    for line, rec in records:
        ref = f"{name}#line={line}"
        try:
            code = whole_number(rec["emotion"], "emotion")
            if code not in FER2013_LABELS:
                raise ValueError(f"emotion {code} is not 0..6")
            parse_pixel_string(rec["pixels"])
        except ValueError as exc:
            out.reject(ref, "bad_row", str(exc))
            continue
        usage = rec.get("Usage", "")
        out.rows.append({"path": ref, "subject": "unknown", "label": FER2013_LABELS[code],
                         "source_split": FER2013_USAGE.get(usage), "usage": usage, "key": ref})
    for rel in tree.files:
        if rel != name:
            out.reject(rel, "non_image" if not is_image_name(rel) else "unreferenced_image",
                       f"fer2013 reads only {name}")
    return out


# --- RAF-DB basic ----------------------------------------------------------------------------
RAFDB_LABELS = {1: "surprise", 2: "fear", 3: "disgust", 4: "happiness", 5: "sadness",
                6: "anger", 7: "neutral"}
RAFDB_LABEL_FILE = "EmoLabel/list_patition_label.txt"  # (sic: the release's spelling)
RAFDB_LINE = re.compile(r"^(?P<name>(?P<split>train|test)_\d+)\.jpg\s+(?P<code>\S+)$",
                        re.IGNORECASE | re.ASCII)


def parse_rafdb(tree: RawTree, options: Mapping[str, Any]) -> Parsed:
    """``[basic/]Image/aligned/train_00001_aligned.jpg`` (or ``Image/original/train_00001.jpg``
    with ``images: original``) labelled by ``[basic/]EmoLabel/list_patition_label.txt``
    (``train_00001.jpg 5``, codes 1-7); the ``train_``/``test_`` prefix is the split (split
    mode ``source``). No subject ids. Every other file is a reject naming why."""
    variant = str(options.get("images", "aligned")).lower()
    if variant not in ("aligned", "original"):
        raise ConfigError(f"rafdb options.images must be aligned or original, got {variant!r}")
    base = next((b for b in ("", "basic/") if tree.has_metadata(f"{b}{RAFDB_LABEL_FILE}")),
                None)
    if base is None:
        raise FileNotFoundError(f"rafdb layout: no {RAFDB_LABEL_FILE} (or basic/"
                                f"{RAFDB_LABEL_FILE}) under {tree.root}; see docs/datasets.md")
    label_file = f"{base}{RAFDB_LABEL_FILE}"
    out = Parsed(metadata_files=[label_file])
    folder = f"{base}Image/{variant}/"
    suffix = "_aligned.jpg" if variant == "aligned" else ".jpg"
    images = {rel[len(folder):].lower(): rel for rel in tree.files if rel.startswith(folder)}
    used: set[str] = set()
    for line, text in enumerate(tree.read_text(label_file).splitlines(), start=1):
        if not text.strip():
            continue
        ref = f"{label_file}#line={line}"
        m = RAFDB_LINE.match(text.strip())
        try:
            code = whole_number(m["code"], "label") if m else None
        except ValueError as exc:
            out.reject(ref, "bad_row", f"{exc} in {text.strip()[:80]!r}")
            continue
        if code not in RAFDB_LABELS:
            out.reject(ref, "bad_row", f"{text.strip()[:80]!r} is not '<train|test>_N.jpg "
                       "<1-7>'")
            continue
        rel = images.get((m["name"] + suffix).lower())
        if rel is None:
            out.reject(ref, "missing_image", f"{folder}{m['name']}{suffix} does not exist")
            continue
        used.add(rel)
        out.rows.append({"path": rel, "subject": "unknown", "label": RAFDB_LABELS[code],
                         "source_split": m["split"].lower(), "key": m["name"].lower()})
    for rel in tree.files:
        if rel in used or rel == label_file:
            continue
        if rel.startswith(folder):
            reason = "unreferenced_image" if is_image_name(rel) else "non_image"
            out.reject(rel, reason, f"not listed in {label_file}")
        elif rel.startswith(f"{base}Image/"):
            out.reject(rel, "other_variant", f"options.images is {variant!r}")
        else:
            out.reject(rel, "ignored_folder", f"rafdb reads {folder} and {label_file} only")
    return out


# --- ExpW ---------------------------------------------------------------------------------
EXPW_LABELS = {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "sadness",
               5: "surprise", 6: "neutral"}
EXPW_LABEL_FILE = "label/label.lst"
EXPW_IMAGES = "image/origin/"


def parse_expw(tree: RawTree, options: Mapping[str, Any]) -> Parsed:
    """``image/origin/<name>.jpg`` + ``label/label.lst``: one face per line, ``name face_id
    top left right bottom confidence label`` (labels 0-6). Each face is its own image,
    ``<path>#box=left,top,right,bottom`` (cut from its photo at ingestion and
    normalisation; use ``detector: {backend: none}``); ``min_confidence`` rejects the faces
    whose detector confidence is lower (``low_confidence``)."""
    floor = as_float(options.get("min_confidence", 0.0), "options.min_confidence")
    if not tree.has_metadata(EXPW_LABEL_FILE):
        raise FileNotFoundError(f"expw layout: no {EXPW_LABEL_FILE} under {tree.root}; see "
                                "docs/datasets.md")
    out = Parsed(metadata_files=[EXPW_LABEL_FILE])
    images = {rel[len(EXPW_IMAGES):]: rel for rel in tree.files if rel.startswith(EXPW_IMAGES)}
    used: set[str] = set()
    for line, text in enumerate(tree.read_text(EXPW_LABEL_FILE).splitlines(), start=1):
        if not text.strip():
            continue
        ref = f"{EXPW_LABEL_FILE}#line={line}"
        fields = text.split()
        try:
            if len(fields) != 8:
                raise ValueError(f"{len(fields)} fields, not 8")
            name, face_id = fields[0], whole_number(fields[1], "face_id")
            top, left, right, bottom = (finite_number(v, k) for v, k in zip(
                fields[2:6], ("top", "left", "right", "bottom"), strict=True))
            confidence = finite_number(fields[6], "confidence")
            code = whole_number(fields[7], "label")
            if code not in EXPW_LABELS:
                raise ValueError(f"label {code} is not 0..6")
            if right <= left or bottom <= top:
                raise ValueError(f"empty box top={top:g} left={left:g} right={right:g} "
                                 f"bottom={bottom:g}")
        except ValueError as exc:
            out.reject(ref, "bad_row", f"{exc} in {text.strip()[:80]!r}")
            continue
        rel = images.get(name)
        if rel is None:
            out.reject(ref, "missing_image", f"{EXPW_IMAGES}{name} does not exist")
            continue
        used.add(rel)
        face = box_ref(rel, left, top, right, bottom)
        if confidence < floor:
            out.reject(face, "low_confidence", f"face {face_id}: confidence {confidence:g} "
                       f"< options.min_confidence {floor:g} ({ref})")
            continue
        out.rows.append({"path": face, "subject": "unknown", "label": EXPW_LABELS[code],
                         "face_id": face_id, "confidence": confidence,
                         "key": f"{name}#face={face_id}"})
    _unused(tree, out, used | {EXPW_LABEL_FILE}, EXPW_IMAGES, EXPW_LABEL_FILE, "expw")
    return out


# --- AffectNet (manually annotated) ------------------------------------------------------
AFFECTNET_LABELS = {0: "neutral", 1: "happiness", 2: "sadness", 3: "surprise", 4: "fear",
                    5: "disgust", 6: "anger", 7: "contempt"}
AFFECTNET_NOT_EXPRESSIONS = {8: "none", 9: "uncertain", 10: "non-face"}
AFFECTNET_FILES = {"training.csv": "train", "validation.csv": "test"}  # the validation set
AFFECTNET_IMAGES = "Manually_Annotated_Images/"                      # is the test set


def parse_affectnet(tree: RawTree, options: Mapping[str, Any]) -> Parsed:
    """``Manually_Annotated_Images/<sub>/<file>`` with ``training.csv`` / ``validation.csv``
    (``subDirectory_filePath,face_x,face_y,face_width,face_height,…,expression,…``).
    Expressions 0-6 are the basic set, 7 contempt (kept with ``labels.keep_contempt``),
    8-10 (none, uncertain, non-face) are ``not_an_expression`` rejects. Each face is
    ``<path>#box=…`` from its face box; training.csv → train, validation.csv → test."""
    listed = [name for name in AFFECTNET_FILES if tree.has_metadata(name)]
    if not listed:
        raise FileNotFoundError(f"affectnet layout: neither training.csv nor validation.csv "
                                f"under {tree.root}; see docs/datasets.md")
    out = Parsed()
    images = {rel[len(AFFECTNET_IMAGES):]: rel for rel in tree.files
              if rel.startswith(AFFECTNET_IMAGES)}
    used: set[str] = set()
    required = {"subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
                "expression"}
    for name in listed:
        records, part = _read_table(tree, name, "affectnet", required)
        out.rejects += part.rejects
        out.metadata_files += part.metadata_files
        for line, rec in records:
            ref = f"{name}#line={line}"
            try:
                x, y, w, h = (finite_number(rec[k], k) for k in (
                    "face_x", "face_y", "face_width", "face_height"))
                code = whole_number(rec["expression"], "expression")
                if code not in AFFECTNET_LABELS and code not in AFFECTNET_NOT_EXPRESSIONS:
                    raise ValueError(f"expression {code} is not 0..10")
                if w <= 0 or h <= 0:
                    raise ValueError(f"empty face box {w:g}x{h:g}")
                finite_number(f"{x + w!r}", "face_x + face_width")  # 1e308 + 1e308: inf
                finite_number(f"{y + h!r}", "face_y + face_height")
            except (ValueError, TypeError) as exc:
                out.reject(ref, "bad_row", str(exc)[:200])
                continue
            rel = images.get(rec["subDirectory_filePath"])
            if rel is None:
                out.reject(ref, "missing_image",
                           f"{AFFECTNET_IMAGES}{rec['subDirectory_filePath']} does not exist")
                continue
            used.add(rel)
            face = box_ref(rel, x, y, x + w, y + h)
            if code in AFFECTNET_NOT_EXPRESSIONS:
                out.reject(face, "not_an_expression",
                           f"expression {code} ({AFFECTNET_NOT_EXPRESSIONS[code]}), {ref}")
                continue
            out.rows.append({"path": face, "subject": "unknown", "label": AFFECTNET_LABELS[code],
                             "source_split": AFFECTNET_FILES[name],
                             "key": rec["subDirectory_filePath"].lower()})
    _unused(tree, out, used | set(listed), AFFECTNET_IMAGES, " and ".join(listed), "affectnet")
    return out


def _unused(tree: RawTree, out: Parsed, used: set[str], images: str, listing: str,
            layout: str) -> None:
    """Every file the layout did not use, as a reject naming why."""
    for rel in tree.files:
        if rel in used:
            continue
        if rel.startswith(images):
            reason = "unreferenced_image" if is_image_name(rel) else "non_image"
            out.reject(rel, reason, f"not listed in {listing}")
        else:
            out.reject(rel, "ignored_folder", f"{layout} reads {images} and {listing} only")


PARSERS: dict[str, Callable[..., Parsed]] = {
    "kdef": parse_kdef, "ckplus": parse_ckplus, "jaffe": parse_jaffe,
    "folder": parse_folder, "csv": parse_csv, "fer2013": parse_fer2013, "rafdb": parse_rafdb,
    "expw": parse_expw, "affectnet": parse_affectnet,
}
NEEDS_VOCABULARY = frozenset({"folder", "csv"})
LAYOUT_OPTIONS: dict[str, frozenset[str]] = {
    "kdef": frozenset({"angles", "sessions"}),
    "ckplus": frozenset({"peak_frames", "neutral_first_frame"}),
    "jaffe": frozenset(),
    "folder": frozenset({"classes", "splits", "subject_regex"}),
    "csv": frozenset({"file", "label_map"}),
    "fer2013": frozenset({"file"}),
    "rafdb": frozenset({"images"}),
    "expw": frozenset({"min_confidence"}),
    "affectnet": frozenset(),
}
