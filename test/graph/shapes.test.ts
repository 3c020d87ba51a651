import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inferTypes } from '../../src/graph/shapes.js';
import { readGraph } from '../helpers/graph.js';
import { fixture, scratchDir, succeeds } from '../helpers/cli.js';
import { exportModel, HUB, ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

/**
 * inferTypes against onnx's own shape inference (onnx.shape_inference.infer_shapes): every tensor type
 * modsurg works out is the one onnx works out — dtype, rank and every dimension onnx knows — on
 * the fixture models of both exporters, hub exports and what the surgeries write; and it works out
 * most of the tensors onnx does.
 */
const ONNX_TYPES = `
import json, sys, onnx
from onnx import shape_inference
model = shape_inference.infer_shapes(onnx.load(sys.argv[1], load_external_data=False))
out = {}
for info in list(model.graph.value_info) + list(model.graph.output):
    t = info.type.tensor_type
    if not t.HasField("elem_type"):
        continue
    dims = None if not t.HasField("shape") else [d.dim_value if d.HasField("dim_value") else (d.dim_param if d.HasField("dim_param") else None) for d in t.shape.dim]
    out[info.name] = [t.elem_type, dims]
print(json.dumps(out))
`;

const dir = scratchDir();

describe.skipIf(!ORACLE_PYTHON)(`inferTypes agrees with onnx's shape inference${ORACLE_SKIP}`, () => {
  const models = (): string[] => {
    const head = join(dir, 'head.onnx');
    succeeds(['replace-head', fixture('resnet.onnx'), '--head', 'fc1=Linear(?,16),relu1=ReLU(),fc2=Linear(16,3),output=Softmax(dim=1)', '--seed', '1', '-o', head]);
    const input = join(dir, 'input.onnx');
    succeeds(['add-input', fixture('realworld/tutorial_net.onnx'), '--name', 'add_variable', '--shape', 'batch', '--at', 'logits', '--pre', 'relu=ReLU()', '--head', 'fc_add=Linear(1001,10)', '--seed', '1', '-o', input]);
    // transformers' BERT (12 layers, the classic exporter: attention's reshapes and transposes), with the hub packages
    return [
      ...(HUB ? [exportModel('bert', join(dir, 'bert.onnx'))] : []),
      fixture('resnet.onnx'), fixture('resnet_dynamo.onnx'), fixture('unet.onnx'), fixture('resnet_unfolded.onnx'), fixture('realworld/tutorial_net.onnx'),
      fixture('realworld/hub_timm_convnext.onnx'), fixture('realworld/hub_timm_vit.onnx'), fixture('realworld/hub_timm_mobilenetv3_dynamo.onnx'), head, input,
    ];
  };

  it('the same dtype and dimensions wherever both know them; most of what onnx infers', () => {
    for (const model of models()) {
      const graph = readGraph(model);
      const ours = inferTypes(graph);
      const reply = python(ONNX_TYPES, [model]);
      expect(reply.status, reply.stderr).toBe(0);
      const theirs = JSON.parse(reply.stdout) as Record<string, [number, (number | string | null)[] | null]>;
      const declared = new Set([...graph.inputs, ...graph.outputs, ...graph.valueInfo].map((v) => v.proto.name));
      let known = 0;
      let agreed = 0;
      for (const [name, [elemType, dims]] of Object.entries(theirs)) {
        if (declared.has(name) || dims === null) continue;
        known++;
        const type = ours.get(name);
        if (!type?.shape) continue;
        agreed++;
        const where = `${model}: ${name}`;
        expect(type.elemType, where).toBe(elemType);
        expect(type.shape.length, where).toBe(dims.length);
        type.shape.forEach((d, i) => {
          const other = dims[i];
          // a number onnx knows is ours too; a name it carries from an input (batch) is ours or unknown; a
          // dimension it does not know (unk__N) we may know (a Split's constant sizes, which onnx drops
          // when the split dimension is unknown)
          if (typeof other === 'number') expect(d, `${where} dim ${i}`).toBe(other);
          else if (typeof other === 'string' && !other.startsWith('unk__')) expect([other, undefined], `${where} dim ${i}`).toContain(d);
        });
      }
      // a dynamo export declares every tensor already
      if (known > 0) expect(agreed / known, `${model}: ${agreed} of ${known}`).toBeGreaterThanOrEqual(0.9);
      console.log(`${model}: ${agreed} of ${known} undeclared tensors' types worked out`);
    }
  });
});
