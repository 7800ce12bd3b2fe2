"""Convert the registry-shipped face models into files ONNX Runtime loads and runs fast.

Run by scripts/setup.sh with the tool venv (needs `onnx` and `numpy`). Deterministic: the same
inputs always give byte-identical outputs, whose sha256 is pinned in models/manifest.toml.

- Block-quantized DequantizeLinear nodes over constant weights are folded into fp32 initializers
  (ONNX Runtime rejects block_size on per-tensor quantization, and fp32 runs faster on CPU).
- Reshapes of constants that the folding leaves behind are folded too.
- Graph inputs that no node consumes (SFace ships 174 of them) are dropped.
- The spatial input dimensions (detectors) or the batch dimension (embedders) become symbolic.
"""
import argparse
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def dequantize(x, scale, zero_point, axis, block_size):
    x = x.astype(np.float32)
    zp = zero_point.astype(np.float32) if zero_point is not None else np.zeros_like(scale, np.float32)
    if block_size and scale.ndim == x.ndim:
        axis = axis % x.ndim
        scale = np.repeat(scale, block_size, axis=axis)
        zp = np.repeat(zp, block_size, axis=axis)
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, x.shape[axis])
        scale, zp = scale[tuple(index)], zp[tuple(index)]
    elif scale.ndim == 1 and x.ndim > 1:
        shape = [1] * x.ndim
        shape[axis % x.ndim] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((x - zp) * scale).astype(np.float32)


def fold_constants(graph):
    """Fold DequantizeLinear and Reshape nodes whose inputs are all initializers."""
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    kept, folded = [], 0
    for node in graph.node:
        ins = [n for n in node.input if n]
        if node.op_type in ("DequantizeLinear", "Reshape") and all(n in inits for n in ins):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "DequantizeLinear":
                zp = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else None
                value = dequantize(inits[node.input[0]], inits[node.input[1]], zp,
                                   attrs.get("axis", 1), attrs.get("block_size", 0))
            else:
                value = inits[node.input[0]].reshape(inits[node.input[1]])
            inits[node.output[0]] = value
            folded += 1
        else:
            kept.append(node)
    used = {n for node in kept for n in node.input} | {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in inits.items() if k in used)
    names = {i.name for i in graph.initializer}
    # Inputs never consumed, or shadowing an initializer (which blocks constant folding in ORT).
    dangling = [i for i in graph.input if i.name not in used or i.name in names]
    for i in dangling:
        graph.input.remove(i)
    return folded, len(dangling)


def relabel(value_info, dims):
    for index, name in dims.items():
        dim = value_info.type.tensor_type.shape.dim[index]
        dim.ClearField("dim_value")
        dim.dim_param = name


def convert(src, dst, kind):
    model = onnx.load(src)
    graph = model.graph
    folded, dropped = fold_constants(graph)
    del graph.value_info[:]  # fixed intermediate shapes would contradict symbolic inputs
    if kind == "detector":
        relabel(graph.input[0], {2: "height", 3: "width"})
        for out in graph.output:
            relabel(out, {1: "anchors"})
    else:
        relabel(graph.input[0], {0: "batch"})
        for out in graph.output:
            relabel(out, {0: "batch"})
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    print(f"{dst}: folded {folded} constant nodes, dropped {dropped} dangling inputs", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--kind", choices=["detector", "embedder"], required=True)
    args = parser.parse_args()
    convert(args.src, args.dst, args.kind)


if __name__ == "__main__":
    main()
