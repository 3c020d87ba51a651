#!/usr/bin/env python3
"""Check that two ONNX models are equal proto for proto, except the parts a test names as edited.

usage: onnx_equal_parts.py A.onnx B.onnx [--ignore-node GLOB ...] [--ignore-initializer GLOB ...]
           [--ignore-input GLOB ...] [--ignore-output GLOB ...] [--ignore-value-info GLOB ...]
           [--ignore-tensor GLOB ...] [--ignore-values GLOB ...] [--ignore-field FIELD ...]
           [--ignore-metadata-key GLOB ...] [--allow-added KIND[:GLOB] ...] [--allow-removed KIND[:GLOB] ...]
           [--any-order] [--tensor-values] [--no-dead-nodes] [--allow-unused-ignores]
       onnx_equal_parts.py --batch FILE.jsonl|-

A is the reference (typically the fixture before the edit), B the file under test (modsurg's output).
Both are loaded with onnx.load (external data resolved).  Without options, A and B must be equal in:
  model   ir_version, opset_import (domain -> version), producer_name, producer_version, domain,
          model_version, doc_string, metadata_props (key -> value), functions (by domain/name/overload,
          whole FunctionProto), training_info
  graph   name, doc_string;
          nodes          keyed by name (an unnamed node by '#<op_type>:<first output>'), whole NodeProto
                         (op_type, domain, inputs, outputs, attributes incl. subgraphs, doc_string,
                         metadata_props, ...), and the relative order of the nodes both have;
          initializers   keyed by name, whole TensorProto (so the same bytes, same encoding); their
                         order is not compared; sparse_initializer lists must be identical;
          inputs/outputs keyed by name, whole ValueInfoProto (type, shape, dim_param names), and order;
          value_info     keyed by name, whole ValueInfoProto.
Options (GLOB = fnmatch pattern, case-sensitive, e.g. '/fc/*', 'fc.*'; an exact name always matches itself):
  --ignore-node GLOB          leave out matching nodes on both sides
  --ignore-initializer GLOB   ... initializers (and sparse initializers)
  --ignore-input GLOB / --ignore-output GLOB / --ignore-value-info GLOB   ... graph inputs / outputs / value_info
  --ignore-tensor GLOB        all four tensor kinds at once (initializer, input, output, value_info)
  --ignore-values GLOB        compare matching initializers without their data: name, data_type, dims, and
                              any other non-data field must still match (what load-weights may change)
  --ignore-field FIELD        skip a model/graph field: ir_version, opset_import, producer_name,
                              producer_version, domain, model_version, doc_string, metadata_props, functions,
                              training_info, graph_name, graph_doc_string
  --ignore-metadata-key GLOB  skip model metadata_props keys (e.g. a provenance key the tool adds)
  --allow-added KIND[:GLOB]   B may have KIND items A lacks (all, or only names matching GLOB). KIND: nodes,
                              initializers, inputs, outputs, value_infos, functions, opsets, metadata
  --allow-removed KIND[:GLOB] A's KIND items may be missing from B
  --any-order                 do not compare the relative order of common nodes / inputs / outputs
  --tensor-values             compare initializers by decoded value (dtype, dims, bytes of numpy_helper.to_array)
                              instead of whole-proto equality (raw_data vs float_data re-encoding is then fine)
  --no-dead-nodes             a diff for every B node none of whose outputs is used (by a node, a subgraph or a
                              graph output) and every unused B initializer (reported anyway, see below)
  --allow-unused-ignores      an --ignore-* GLOB that matches nothing in A or B is normally a diff (it usually
                              means the test names the wrong thing); --allow-* GLOBs may match nothing
Typical edits:
  replace-head (classic resnet.onnx, --at fc):  --ignore-node '/fc/*' --ignore-initializer 'fc.*'
      --ignore-output output --allow-added nodes --allow-added initializers --no-dead-nodes
  add-output:   --allow-added outputs   (plus --allow-added nodes if the tool inserts an Identity)
  add-input:    --ignore-node /fc/Gemm --ignore-initializer 'fc.*' --allow-added inputs --allow-added nodes
      --allow-added initializers --no-dead-nodes
  load-weights: --ignore-values '*'
Prints one JSON line:
  {"ok": bool, "diffs": [...], "counts": {KIND: {"a", "b", "compared", "ignored_a", "ignored_b"}},
   "added": {KIND: [names in B only]}, "removed": {KIND: [names in A only]},   (allowed or not, not ignored)
   "dead_nodes_b": [...], "unused_initializers_b": [...], "unused_globs": [...]}
Exit 0 equal / 1 differences (also: B missing or unloadable) / 2 error (bad arguments, A unreadable).
Torch is not imported; --batch runs many checks in one process (see _cli.py).
"""

import argparse
import fnmatch
import os

import _cli as C

KINDS = ("nodes", "initializers", "inputs", "outputs", "value_infos", "functions", "opsets", "metadata")
FIELDS = ("ir_version", "opset_import", "producer_name", "producer_version", "domain", "model_version",
          "doc_string", "metadata_props", "functions", "training_info", "graph_name", "graph_doc_string")
MAX_LIST = 200


class Globs:
    """A named list of patterns that remembers which ones matched something."""

    def __init__(self, label, pats):
        self.label = label
        self.pats = list(pats)
        self.used = set()

    def match(self, name):
        hit = False
        for p in self.pats:
            if name == p or fnmatch.fnmatchcase(name, p):
                self.used.add(p)
                hit = True
        return hit

    def unused(self):
        return ["%s %s" % (self.label, p) for p in self.pats if p not in self.used]


def ser(msg):
    return msg.SerializeToString(deterministic=True)


def node_key(nd):
    return nd.name if nd.name else "#%s:%s" % (nd.op_type, nd.output[0] if len(nd.output) else "")


def is_repeated(fd):
    rep = getattr(fd, "is_repeated", None)  # protobuf >= 5.28 (.label was removed in 7)
    return rep if isinstance(rep, bool) else fd.label == fd.LABEL_REPEATED


def field_diffs(a, b, what, skip=()):
    """Human-readable differences of two protos of one type, field by field."""
    out = []
    names = [f.name for f in a.DESCRIPTOR.fields]
    for f in names:
        if f in skip:
            continue
        fa, fb = getattr(a, f), getattr(b, f)
        fd = a.DESCRIPTOR.fields_by_name[f]
        if is_repeated(fd):
            if fd.message_type is not None:
                la, lb = [ser(x) for x in fa], [ser(x) for x in fb]
                if la == lb:
                    continue
                if f == "attribute":
                    da = {x.name: x for x in fa}
                    db = {x.name: x for x in fb}
                    for k in sorted(set(da) | set(db)):
                        if k not in db:
                            out.append("%s: attribute %s removed" % (what, k))
                        elif k not in da:
                            out.append("%s: attribute %s added" % (what, k))
                        elif ser(da[k]) != ser(db[k]):
                            out.append("%s: attribute %s: %s != %s" % (what, k, short(da[k]), short(db[k])))
                elif f == "metadata_props":
                    ma = [(x.key, x.value) for x in fa]
                    mb = [(x.key, x.value) for x in fb]
                    out.append("%s: metadata_props %s != %s" % (what, shortl(ma), shortl(mb)))
                else:
                    out.append("%s: %s differs (%d vs %d entries)" % (what, f, len(la), len(lb)))
            else:
                if list(fa) != list(fb):
                    out.append("%s: %s %s != %s" % (what, f, shortl(list(fa)), shortl(list(fb))))
        elif fd.message_type is not None:
            ha, hb = a.HasField(f), b.HasField(f)
            if ha != hb or (ha and ser(fa) != ser(fb)):
                out.append("%s: %s %s != %s" % (what, f, short(fa) if ha else "<unset>", short(fb) if hb else "<unset>"))
        elif isinstance(fa, bytes) and fa != fb:
            k = next((i for i, (x, y) in enumerate(zip(fa, fb)) if x != y), min(len(fa), len(fb)))
            out.append("%s: %s <%d bytes> != <%d bytes> (first difference at byte %d)" % (what, f, len(fa), len(fb), k))
        elif fa != fb:
            out.append("%s: %s %s != %s" % (what, f, short(fa), short(fb)))
    if not out:  # unknown fields / presence differences
        out.append("%s: protos differ" % what)
    return out


def short(v, n=160):
    s = repr(v) if not hasattr(v, "DESCRIPTOR") else str(v).replace("\n", " ")
    if isinstance(v, bytes):
        s = "<%d bytes>" % len(v)
    return s if len(s) <= n else s[:n] + "..."


def shortl(v):
    return short(v, 300)


def load(path, side):
    import onnx
    if not os.path.exists(path):
        if side == "A":
            raise C.Usage("A %s does not exist" % path)
        raise C.Mismatch("B %s does not exist" % path)
    try:
        return onnx.load(path)
    except Exception as e:  # noqa: BLE001
        msg = "%s: onnx.load failed: %s: %s" % (path, type(e).__name__, str(e)[:300])
        if side == "A":
            raise C.Usage(msg)
        raise C.Mismatch(msg)


def used_names(graph, acc):
    """Every tensor name consumed by a node (recursively into subgraphs) or a graph output."""
    for nd in graph.node:
        acc.update(i for i in nd.input if i)
        for at in nd.attribute:
            for g in ([at.g] if at.HasField("g") else []) + list(at.graphs):
                used_names(g, acc)
                # outer-scope names used inside a subgraph are node inputs of its nodes: covered above
    acc.update(o.name for o in graph.output)
    return acc


def run(argv):
    ap = argparse.ArgumentParser(prog="onnx_equal_parts.py")
    ap.add_argument("a")
    ap.add_argument("b")
    for opt in ("node", "initializer", "input", "output", "value-info", "tensor", "values", "metadata-key"):
        ap.add_argument("--ignore-" + opt, action="append", default=[])
    ap.add_argument("--ignore-field", action="append", default=[], choices=FIELDS)
    ap.add_argument("--allow-added", action="append", default=[])
    ap.add_argument("--allow-removed", action="append", default=[])
    ap.add_argument("--any-order", action="store_true")
    ap.add_argument("--tensor-values", action="store_true")
    ap.add_argument("--no-dead-nodes", action="store_true")
    ap.add_argument("--allow-unused-ignores", action="store_true")
    o = ap.parse_args(argv)

    def kind_globs(items, label):
        res = {}
        for it in items:
            for part in [it] if ":" in it else it.split(","):
                kind, _, pat = part.partition(":")
                if kind not in KINDS:
                    raise C.Usage("%s %r: KIND must be one of %s" % (label, part, ", ".join(KINDS)))
                res.setdefault(kind, Globs("%s %s:" % (label, kind), []))
                res[kind].pats.append(pat or "*")
        return res

    added_ok = kind_globs(o.allow_added, "--allow-added")
    removed_ok = kind_globs(o.allow_removed, "--allow-removed")
    ign = {
        "nodes": Globs("--ignore-node", o.ignore_node),
        "initializers": Globs("--ignore-initializer", o.ignore_initializer),
        "inputs": Globs("--ignore-input", o.ignore_input),
        "outputs": Globs("--ignore-output", o.ignore_output),
        "value_infos": Globs("--ignore-value-info", o.ignore_value_info),
        "metadata": Globs("--ignore-metadata-key", o.ignore_metadata_key),
    }
    tensor_g = Globs("--ignore-tensor", o.ignore_tensor)
    values_g = Globs("--ignore-values", o.ignore_values)
    skip_fields = set(o.ignore_field)

    A = load(o.a, "A")
    B = load(o.b, "B")
    from onnx import numpy_helper

    diffs = []
    counts = {}
    added = {}
    removed = {}

    def ignored(kind, name):
        hit = ign[kind].match(name) if kind in ign else False
        if kind in ("initializers", "inputs", "outputs", "value_infos") and tensor_g.match(name):
            hit = True
        return hit

    def keyed(kind, items, keyf, side):
        d = {}
        order = []
        n_ign = 0
        for it in items:
            k = keyf(it)
            if ignored(kind, k):
                n_ign += 1
                continue
            if k in d:
                diffs.append("%s: duplicate %s %r in %s" % (kind, kind[:-1], k, side))
                continue
            d[k] = it
            order.append(k)
        return d, order, n_ign

    def compare_kind(kind, ia, ib, keyf, cmp, check_order):
        da, oa, ga = keyed(kind, ia, keyf, "A")
        db, ob, gb = keyed(kind, ib, keyf, "B")
        common = [k for k in oa if k in db]
        only_a = [k for k in oa if k not in db]
        only_b = [k for k in ob if k not in da]
        counts[kind] = {"a": len(ia), "b": len(ib), "compared": len(common), "ignored_a": ga, "ignored_b": gb}
        if only_b:
            added[kind] = only_b[:MAX_LIST]
            g = added_ok.get(kind)
            bad = [k for k in only_b if not (g and g.match(k))]
            if bad:
                diffs.append("%s only in B (not allowed): %s" % (kind, shortl(bad)))
        if only_a:
            removed[kind] = only_a[:MAX_LIST]
            g = removed_ok.get(kind)
            bad = [k for k in only_a if not (g and g.match(k))]
            if bad:
                diffs.append("%s missing from B: %s" % (kind, shortl(bad)))
        for k in common:
            cmp(k, da[k], db[k])
        if check_order and not o.any_order:
            ob_common = [k for k in ob if k in da]
            if ob_common != common:
                first = next(i for i, (x, y) in enumerate(zip(common, ob_common)) if x != y)
                diffs.append("%s: relative order changed at position %d: A has %r, B has %r"
                             % (kind, first, common[first], ob_common[first]))

    def cmp_whole(kind):
        def f(k, x, y):
            if ser(x) != ser(y):
                diffs.extend(field_diffs(x, y, "%s %s" % (kind[:-1], k)))
        return f

    data_fields = ("raw_data", "float_data", "int32_data", "string_data", "int64_data", "double_data",
                   "uint64_data", "external_data", "data_location")

    def cmp_init(k, x, y):
        if values_g.match(k):
            x2, y2 = type(x)(), type(y)()
            x2.CopyFrom(x)
            y2.CopyFrom(y)
            for t in (x2, y2):
                for f in data_fields:
                    t.ClearField(f)
            if ser(x2) != ser(y2):
                diffs.extend(field_diffs(x2, y2, "initializer %s" % k))
            return
        if o.tensor_values:
            va, vb = numpy_helper.to_array(x), numpy_helper.to_array(y)
            if va.dtype != vb.dtype or va.shape != vb.shape or va.tobytes() != vb.tobytes():
                diffs.append("initializer %s: value differs (%s%s vs %s%s)" % (k, va.dtype, list(va.shape),
                                                                                vb.dtype, list(vb.shape)))
            return
        if ser(x) != ser(y):
            diffs.extend(field_diffs(x, y, "initializer %s" % k))

    # ---- model-level fields
    for f in ("ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string"):
        if f not in skip_fields and getattr(A, f) != getattr(B, f):
            diffs.append("model %s: %s != %s" % (f, short(getattr(A, f)), short(getattr(B, f))))
    if "opset_import" not in skip_fields:
        oa = {(x.domain or "ai.onnx"): x.version for x in A.opset_import}
        ob = {(x.domain or "ai.onnx"): x.version for x in B.opset_import}
        for dom in sorted(set(oa) | set(ob)):
            if dom in oa and dom in ob and oa[dom] != ob[dom]:
                diffs.append("opset_import %s: %d != %d" % (dom, oa[dom], ob[dom]))
            elif dom not in ob:
                removed.setdefault("opsets", []).append(dom)
                if not (removed_ok.get("opsets") and removed_ok["opsets"].match(dom)):
                    diffs.append("opset_import %s missing from B" % dom)
            elif dom not in oa:
                added.setdefault("opsets", []).append(dom)
                if not (added_ok.get("opsets") and added_ok["opsets"].match(dom)):
                    diffs.append("opset_import %s only in B (not allowed)" % dom)
    if "metadata_props" not in skip_fields:
        compare_kind("metadata", list(A.metadata_props), list(B.metadata_props), lambda p: p.key,
                     lambda k, x, y: diffs.append("metadata_props %s: %s != %s" % (k, short(x.value), short(y.value)))
                     if x.value != y.value else None, check_order=False)
    if "functions" not in skip_fields:
        compare_kind("functions", list(A.functions), list(B.functions),
                     lambda fn: "%s:%s:%s" % (fn.domain, fn.name, fn.overload), cmp_whole("functions"),
                     check_order=False)
    if "training_info" not in skip_fields:
        if [ser(t) for t in A.training_info] != [ser(t) for t in B.training_info]:
            diffs.append("model training_info differs")

    # ---- graph
    ga, gb = A.graph, B.graph
    if "graph_name" not in skip_fields and ga.name != gb.name:
        diffs.append("graph name %r != %r" % (ga.name, gb.name))
    if "graph_doc_string" not in skip_fields and ga.doc_string != gb.doc_string:
        diffs.append("graph doc_string %s != %s" % (short(ga.doc_string), short(gb.doc_string)))
    compare_kind("nodes", list(ga.node), list(gb.node), node_key, cmp_whole("nodes"), check_order=True)
    compare_kind("initializers", list(ga.initializer), list(gb.initializer), lambda t: t.name, cmp_init,
                 check_order=False)
    if [ser(t) for t in ga.sparse_initializer] != [ser(t) for t in gb.sparse_initializer]:
        diffs.append("graph sparse_initializer differs")
    compare_kind("inputs", list(ga.input), list(gb.input), lambda v: v.name, cmp_whole("inputs"), check_order=True)
    compare_kind("outputs", list(ga.output), list(gb.output), lambda v: v.name, cmp_whole("outputs"),
                 check_order=True)
    compare_kind("value_infos", list(ga.value_info), list(gb.value_info), lambda v: v.name,
                 cmp_whole("value_infos"), check_order=False)

    # ---- dead code in B
    used = used_names(gb, set())
    dead = [node_key(nd) for nd in gb.node if nd.output and not any(t and t in used for t in nd.output)]
    unused_init = [t.name for t in gb.initializer if t.name not in used]
    if o.no_dead_nodes:
        if dead:
            diffs.append("B has nodes whose outputs nothing uses: %s" % shortl(dead))
        if unused_init:
            diffs.append("B has initializers nothing uses: %s" % shortl(unused_init))

    unused = []
    for g in list(ign.values()) + [tensor_g, values_g]:  # --allow-* are permissions: unused is fine
        unused.extend(g.unused())
    if unused and not o.allow_unused_ignores:
        diffs.append("patterns that match nothing in A or B: %s" % unused)

    return {"ok": not diffs, "diffs": diffs[:MAX_LIST], "n_diffs": len(diffs), "counts": counts,
            "added": added, "removed": removed, "dead_nodes_b": dead[:MAX_LIST],
            "unused_initializers_b": unused_init[:MAX_LIST], "unused_globs": unused}


if __name__ == "__main__":
    C.main(run)
