"""Judge a symbolic pickle run against the allowlist: events in, findings out.

Rules (design note 8.2, "structural rules that make the allowlist hold"):
- every imported global must be an active entry; its uses must match the entry's roles
  (REDUCE/INST/OBJ callee = CALL, NEWOBJ class = NEW, BUILD target's maker = BUILD,
  storage tag = PERSID) and conditions;
- a call whose callee is not a named global (a call result, a persistent id) is unsafe;
- BUILD only on objects made by entries that allow BUILD, with the entry's state rule;
- SETITEM(S) only on dicts or entries marked `setitems`; APPEND(S) only on lists or
  entries marked `appends`; ADDITEMS only on sets;
- persistent ids are checked by the container's validator (none means unexpected);
- EXT codes are unsafe; out-of-band buffers make the file incomplete;
- nested deserialisers are never allowed; a literal bytes argument is scanned too.
The denylist only grades severity.
"""

from __future__ import annotations

from collections.abc import Callable

from weightguard.pickle.graphwalk import Cache
from weightguard.pickle.machine import Event, PickleProgram
from weightguard.pickle.values import (
    BytesRef,
    Dict,
    Global,
    List,
    Obj,
    PersistentRef,
    Set,
    Tuple,
    Value,
)
from weightguard.scan import conditions as c
from weightguard.scan.allowlist import Allowlist, profile_of
from weightguard.scan.denylist import NESTED_LOADERS, known_primitive
from weightguard.scan.model import Finding, Outcome, Role, Severity

PersidCheck = Callable[[PersistentRef], "str | None"]
NestedScan = Callable[[bytes | BytesRef, str, int], "list[Finding]"]

_RECONSTRUCTORS = ("copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__")


class Judge:
    """Judges programs read from one stream (member) of one file.

    A plain class, not a dataclass: it is the judging behaviour plus its working state
    (findings collected so far), not a value, and it is imported on every scan's start-up.

    Attributes:
        allow: the active allowlist.
        file / member: where findings are reported.
        base: stream offset subtracted from event offsets (offsets are member-relative).
        persid: the container's persistent-id validator; None = no persistent_load.
        nested: scans literal bytes given to a nested loader (None = report only).
        findings: what was found so far; globals: every ``module.qualname`` imported.
    """

    def __init__(
        self,
        allow: Allowlist,
        file: str,
        member: str | None = None,
        base: int = 0,
        persid: PersidCheck | None = None,
        nested: NestedScan | None = None,
    ) -> None:
        self.allow = allow
        self.file = file
        self.member = member
        self.base = base
        self.persid = persid
        self.nested = nested
        self.findings: list[Finding] = []
        self.globals: set[str] = set()
        self._reported: set[str] = set()
        self._walks: Cache = {}

    @property
    def walks(self) -> Cache:
        """Value-graph walk results shared by every condition judged on this stream."""
        return self._walks

    # -- context protocol for conditions --------------------------------------------

    def allows(self, node: Value, role: Role) -> bool:
        """True if `node` is a global allowed for `role`."""
        if not isinstance(node, Global):
            return False
        entry = self.allow.get(node.qualname)
        return entry is not None and role in entry.roles

    def check_call(self, callee: Global, args: Tuple) -> str | None:
        """Judge an inner call (``_rebuild_from_type_v2`` calling its first argument)."""
        entry = self.allow.get(callee.qualname)
        if entry is None or Role.CALL not in entry.roles:
            return "not allowlisted as a call"
        fake = Obj("reduce", callee, args, callee.offset, "REDUCE")
        return entry.call(fake, self) if entry.call else None

    # -- reporting --------------------------------------------------------------------

    def add(
        self,
        rule: str,
        outcome: Outcome,
        severity: Severity,
        message: str,
        event: Event | None = None,
        *,
        global_name: str | None = None,
        role: Role | None = None,
        hint: str | None = None,
        offset: int | None = None,
    ) -> None:
        """Record a finding at `event` (or `offset`)."""
        if event is not None:
            offset = event.offset
        self.findings.append(
            Finding(
                rule=rule,
                outcome=outcome,
                severity=severity,
                message=message,
                file=self.file,
                member=self.member,
                offset=None if offset is None else offset - self.base,
                opcode=event.opcode if event else None,
                global_name=global_name,
                role=role,
                hint=hint,
            )
        )

    def _disallowed(self, g: Global, role: Role, event: Event) -> None:
        name = g.qualname
        if name in self._reported:
            return
        self._reported.add(name)
        primitive = known_primitive(name)
        used = {
            Role.CALL: "called",
            Role.NEW: "instantiated",
            Role.BUILD: "given BUILD state",
            Role.PERSID: "used as a storage tag",
            Role.VALUE: "imported",
        }[role]
        if primitive:
            self.add(
                "global.denied",
                Outcome.UNSAFE,
                Severity.CRITICAL,
                f"{name} is {used}: known code-execution primitive ({primitive})",
                event,
                global_name=name,
                role=role,
                hint="do not load this file with pickle, torch.load or joblib",
            )
            return
        profile = profile_of(name)
        if profile and profile not in self.allow.profiles:
            hint = f"--profile {profile}"
        else:
            hint = f"--allow {name} (only if you trust that code)"
        if g.module == "__main__" or (name.split(".")[-1][:1].isupper() and profile is None):
            self.add(
                "global.user_class",
                Outcome.UNSAFE,
                Severity.HIGH,
                f"{name} is {used}: a class outside the allowlist; loading runs its "
                f"code, so it would have to be trusted",
                event,
                global_name=name,
                role=role,
                hint=hint,
            )
        else:
            self.add(
                "global.not_allowed",
                Outcome.UNSAFE,
                Severity.HIGH,
                f"{name} is {used} but is not in the active allowlist",
                event,
                global_name=name,
                role=role,
                hint=hint,
            )

    def _use(self, g: Global, role: Role, event: Event) -> bool:
        """Check that `g` may be used in `role`; report and return False if not."""
        entry = self.allow.get(g.qualname)
        if entry is None:
            self._disallowed(g, role, event)
            return False
        if role not in entry.roles:
            self.add(
                "global.role",
                Outcome.UNSAFE,
                Severity.HIGH,
                f"{g.qualname} is allowlisted only as "
                f"{'/'.join(sorted(r.value for r in entry.roles))}, not as {role.value}",
                event,
                global_name=g.qualname,
                role=role,
            )
            return False
        return True

    # -- the rules --------------------------------------------------------------------

    def judge(self, program: PickleProgram) -> None:
        """Judge one program (and the nested ones it read mid-stream)."""
        for event in program.events:
            getattr(self, "_on_" + event.kind)(event)
        for node_event in program.events:
            if node_event.kind == "global":
                g = node_event.node
                assert isinstance(g, Global)
                if self.allow.get(g.qualname) is None:
                    self._disallowed(g, Role.VALUE, node_event)
        for anomaly in program.anomalies:
            self.add(
                anomaly.rule, Outcome.UNSAFE, Severity.HIGH, anomaly.message, offset=anomaly.offset
            )
        if program.error is not None:
            err = program.error
            outcome = Outcome.UNSAFE if err.evasive else Outcome.INCOMPLETE
            self.add(
                err.rule,
                outcome,
                Severity.HIGH if err.evasive else Severity.MEDIUM,
                err.message,
                offset=err.offset,
            )
        for nested in program.nested:
            self.judge(nested)

    def _on_global(self, event: Event) -> None:
        assert isinstance(event.node, Global)
        self.globals.add(event.node.qualname)

    def _on_call(self, event: Event) -> None:
        obj = event.node
        assert isinstance(obj, Obj)
        callee = obj.callee
        if not isinstance(callee, Global):
            self.add(
                "call.dynamic",
                Outcome.UNSAFE,
                Severity.CRITICAL,
                f"{event.opcode} calls a {type(callee).__name__.lower()} value, not a "
                "named global (a computed callable hides what runs)",
                event,
            )
            return
        name = callee.qualname
        if name in NESTED_LOADERS:
            self._nested_loader(obj, event)
        role = Role.NEW if obj.kind == "newobj" else Role.CALL
        if not self._use(callee, role, event):
            return
        entry = self.allow.get(name)
        assert entry is not None
        if entry.call is not None:
            bad = entry.call(obj, self)
            if bad:
                self.add(
                    "global.condition",
                    Outcome.UNSAFE,
                    Severity.HIGH,
                    f"{name}: {bad}",
                    event,
                    global_name=name,
                    role=role,
                )

    def _nested_loader(self, obj: Obj, event: Event) -> None:
        name = obj.callee.qualname if isinstance(obj.callee, Global) else "?"
        self.add(
            "call.nested_loader",
            Outcome.UNSAFE,
            Severity.CRITICAL,
            f"{name} deserialises another payload; nested loaders are never allowed",
            event,
            global_name=name,
            role=Role.CALL,
            hint="save the inner object directly instead of as embedded bytes",
        )
        args = obj.args.items if isinstance(obj.args, Tuple) else ()
        data = literal_bytes(args[0]) if args else None
        if data is not None and self.nested is not None:
            kind = "torch" if name.startswith("torch.") else "pickle"
            self.findings.extend(self.nested(data, kind, event.offset - self.base))

    def _on_build(self, event: Event) -> None:
        target = event.node
        maker = origin(target)
        if maker is None:
            what = type(target).__name__.lower() if target is not None else "none"
            self.add(
                "structure.build_target",
                Outcome.UNSAFE,
                Severity.HIGH,
                f"BUILD on a {what}: BUILD may only restore allowlisted objects "
                "(BUILD-as-setattr gadget)",
                event,
            )
            return
        if not self._use(maker, Role.BUILD, event):
            return
        entry = self.allow.get(maker.qualname)
        assert entry is not None
        bad = (entry.state or c.strdict_state)(event.arg, self)
        if bad:
            self.add(
                "global.condition",
                Outcome.UNSAFE,
                Severity.HIGH,
                f"{maker.qualname}: {bad}",
                event,
                global_name=maker.qualname,
                role=Role.BUILD,
            )

    def _container_op(self, event: Event, plain: type, flag: str | None, what: str) -> None:
        target = event.node
        if isinstance(target, plain):
            return
        maker = origin(target)
        entry = self.allow.get(maker.qualname) if maker else None
        if entry is not None and flag is not None and getattr(entry, flag):
            return
        self.add(
            f"structure.{what}",
            Outcome.UNSAFE,
            Severity.HIGH,
            f"{event.opcode} on something other than a plain container "
            f"({maker.qualname if maker else type(target).__name__}): it would call "
            "that object's methods",
            event,
        )

    def _on_setitems(self, event: Event) -> None:
        self._container_op(event, Dict, "setitems", "setitems_target")

    def _on_appends(self, event: Event) -> None:
        self._container_op(event, List, "appends", "appends_target")

    def _on_additems(self, event: Event) -> None:
        self._container_op(event, Set, None, "additems_target")

    def _on_persid(self, event: Event) -> None:
        ref = event.node
        assert isinstance(ref, PersistentRef)
        if self.persid is None:
            self.add(
                "persid.unexpected",
                Outcome.UNSAFE,
                Severity.MEDIUM,
                "a persistent id in a format whose loader has no persistent_load "
                "(a custom loader may resolve it to anything)",
                event,
            )
            return
        tag = ref.pid.items[1] if isinstance(ref.pid, Tuple) and len(ref.pid.items) > 1 else None
        if isinstance(tag, Global) and not self._use(tag, Role.PERSID, event):
            return
        bad = self.persid(ref)
        if bad:
            self.add("persid.invalid", Outcome.UNSAFE, Severity.HIGH, bad, event)

    def _on_ext(self, event: Event) -> None:
        self.add(
            "pickle.ext",
            Outcome.UNSAFE,
            Severity.HIGH,
            "EXT opcode: imports a global through the copyreg extension registry, "
            "which the file does not name",
            event,
        )

    def _on_buffer(self, event: Event) -> None:
        self.add(
            "pickle.out_of_band",
            Outcome.INCOMPLETE,
            Severity.MEDIUM,
            "out-of-band buffer: the stream cannot be loaded without its buffers",
            event,
        )


def origin(target: Value) -> Global | None:
    """The global whose allowlist entry governs an object (class for reconstructors)."""
    if not isinstance(target, Obj) or not isinstance(target.callee, Global):
        return None
    callee = target.callee
    if target.kind == "reduce" and callee.qualname in _RECONSTRUCTORS:
        args = target.args.items if isinstance(target.args, Tuple) else ()
        return args[0] if args and isinstance(args[0], Global) else None
    return callee


def literal_bytes(value: Value) -> bytes | BytesRef | None:
    """A bytes constant, or ``_codecs.encode(str, 'latin1')`` of one, else None."""
    if isinstance(value, bytes | BytesRef):
        return value
    if (
        isinstance(value, Obj)
        and isinstance(value.callee, Global)
        and value.callee.qualname == "_codecs.encode"
        and isinstance(value.args, Tuple)
    ):
        args = value.args.items
        if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            try:
                return args[0].encode("latin-1")
            except UnicodeEncodeError:
                return None
    return None
