"""Severity grading for globals that are not allowed. It never decides "safe".

The allowlist decides; this list only says *how bad* a disallowed global is and why,
so reports can say "known code-execution primitive" instead of "not in the allowlist".
Matching is by module and every parent module (``asyncio.unix_events`` matches
``asyncio``; CVE-2025-10157 was an exact-match miss) and by qualname prefix. Sources:
design note section 8.2 "Never allow" and the bypass history in section 4.
"""

from __future__ import annotations

# module (and all submodules) -> explanation
_MODULES: dict[str, str] = {}


def _add(explanation: str, modules: str) -> None:
    for module in modules.split():
        _MODULES[module] = explanation


_add(
    "runs shell commands or processes",
    "os posix nt subprocess _posixsubprocess pty popen2 commands multiprocessing _winapi asyncio",
)
_add(
    "executes or compiles code from strings",
    "runpy code codeop trace profile cProfile timeit pdb bdb doctest idlelib lib2to3 "
    "_pyrepl pydoc test",
)
_add(
    "imports or resolves modules and attributes by name",
    "importlib pkgutil imp zipimport site sysconfig",
)
_add("builds functions or code objects", "types marshal ctypes _ctypes cloudpickle dill")
_add(
    "deserialises another payload (nested loader)",
    "pickle _pickle cPickle shelve joblib jsonpickle yaml",  # safe: a name we deny, never called
)
_add("calls or fetches attributes indirectly (gadget)", "operator _operator functools")
_add(
    "reads or writes files",
    "shutil io _io tempfile glob zipfile tarfile codecs fileinput distutils logging linecache",
)
_add(
    "opens network connections",
    "socket ssl http urllib urllib2 httplib requests aiohttp smtplib ftplib imaplib "
    "poplib telnetlib webbrowser xmlrpc",
)
_add(
    "controls the interpreter",
    "sys gc inspect threading _thread signal atexit "
    "_interpreters _xxsubinterpreters ensurepip pip setuptools venv uuid _osx_support "
    "_aix_support platform",
)

# exact qualnames (and their attributes) -> explanation
_QUALNAMES: dict[str, str] = {
    "builtins.eval": "executes code from a string",
    "builtins.exec": "executes code from a string",
    "builtins.compile": "compiles code from a string",
    "builtins.open": "opens files",
    "builtins.__import__": "imports modules by name",
    "builtins.getattr": "fetches any attribute (gadget)",
    "builtins.setattr": "sets any attribute (gadget)",
    "builtins.delattr": "deletes attributes (gadget)",
    "builtins.globals": "exposes interpreter state",
    "builtins.vars": "exposes interpreter state",
    "builtins.breakpoint": "starts a debugger",
    "builtins.input": "reads from the terminal",
    "builtins.type": "creates classes",
    "builtins.super": "reaches parent implementations (gadget)",
    "builtins.memoryview": "raw memory access",
    "builtins.map": "calls its argument (hides calls)",
    "builtins.filter": "calls its argument (hides calls)",
    "builtins.sorted": "calls its key argument (hides calls)",
    "builtins.min": "calls its key argument (hides calls)",
    "builtins.max": "calls its key argument (hides calls)",
    "builtins.iter": "calls its argument (hides calls)",
    "builtins.next": "drives iterators (hides calls)",
    "builtins.apply": "calls its argument",
    "torch.load": "deserialises another payload (nested loader)",
    "torch.serialization.load": "deserialises another payload (nested loader)",
    # safe: the next line names a callable we deny; nothing here calls it
    "torch.storage._load_from_bytes": (
        "runs torch.load(weights_only=False) on embedded bytes"  # safe: a message
    ),
    "torch.jit": "loads TorchScript code",
    "torch.hub": "downloads and runs code",
    "torch._dynamo": "evaluates guard code",
    "torch._inductor": "compiles and runs code",
    "torch.fx.experimental.symbolic_shapes": "evaluates expressions",
    "torch.utils.collect_env": "runs shell commands",
    "torch.utils.bottleneck": "runs code under a profiler",
    "torch.utils.data.datapipes": "decodes nested payloads",
    "torch.utils._config_module": "loads pickled configuration",
    "numpy.load": "deserialises another payload (nested loader)",
    "numpy.lib.npyio": "deserialises another payload (nested loader)",
    "numpy.f2py": "compiles and runs code",
    "numpy.testing": "runs code from strings",
    "numpy.distutils": "runs build commands",
    "collections.ChainMap": "mapping gadget that hides factory calls",
    "pandas.read_pickle": "deserialises another payload (nested loader)",
    "pandas.read_csv": "reads files or URLs",
    "pandas.io": "reads files or URLs",
}

NESTED_LOADERS = frozenset(
    {
        "torch.load",
        "torch.serialization.load",
        "torch.storage._load_from_bytes",
        "pickle.loads",
        "pickle.load",
        "_pickle.loads",
        "_pickle.load",
        "pickle._loads",
        "numpy.load",
        "joblib.load",
        "joblib.numpy_pickle.load",
        "dill.loads",  # safe: a name we deny, never called
        "cloudpickle.loads",
    }
)


def known_primitive(qualname: str) -> str | None:
    """Why a global is a known code-execution (or gadget) primitive, or None."""
    probe = qualname
    while probe:
        hit = _QUALNAMES.get(probe)
        if hit:
            return hit
        probe = probe.rpartition(".")[0]
    parts = qualname.split(".")
    for i in range(len(parts), 0, -1):
        hit = _MODULES.get(".".join(parts[:i]))
        if hit:
            return hit
    # Dotted names reach modules through attributes (pathlib + "os.system").
    for start in range(1, len(parts)):
        tail = ".".join(parts[start:])
        hit = _QUALNAMES.get(tail) or known_primitive(tail) if len(parts) - start > 1 else None
        if hit:
            return f"{hit}, reached through {'.'.join(parts[:start])}"
    if any(p.startswith("__") and p.endswith("__") for p in parts[1:]):
        return "reaches a special attribute (e.g. __builtins__)"
    return None
