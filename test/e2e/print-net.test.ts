import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixture, modsurg, ROOT, scratchDir } from '../helpers/cli.js';
import { HUB, HUB_SKIP, ORACLE_PYTHON } from '../helpers/oracle.js';

/**
 * `inspect --repr` against print(model) of real torch, character for character, for whole-model pickles
 * of torchvision's ResNet-50, the PyTorch tutorial's Sequential / OrderedDict / ModuleList / ModuleDict
 * examples, its ResNet-50 with a new `fc` Sequential and its Model(net) with an extra input, a U-Net, a
 * DataParallel wrapper, every standard layer off its defaults, and five timm models
 * (test/oracle/print_models.py writes each pickle beside the text torch printed for it).
 */
const dir = scratchDir();
let names: string[] = [];

describe.skipIf(!HUB)(`inspect prints what print(model) prints${HUB_SKIP}`, () => {
  beforeAll(() => {
    const made = spawnSync(ORACLE_PYTHON!, [join(ROOT, 'test/oracle/print_models.py'), dir], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    names = readdirSync(dir).filter((f) => f.endsWith('.pth')).map((f) => f.slice(0, -4)).sort();
  });

  it('--repr is print(model), exactly, for every model', async () => {
    expect(names).toEqual(expect.arrayContaining(['torchvision_resnet50', 'tutorial_resnet50_new_fc', 'tutorial_model_net', 'tutorial_sequential', 'tutorial_ordereddict', 'tutorial_modulelist', 'tutorial_moduledict', 'unet', 'dataparallel', 'layer_zoo', 'timm_vit_tiny_patch16_224']));
    const differing: string[] = [];
    for (const name of names) {
      const run = modsurg(['inspect', join(dir, `${name}.pth`), '--repr']);
      expect(run.status, `${name}: ${run.stderr}`).toBe(0);
      if (run.stdout !== readFileSync(join(dir, `${name}.txt`), 'utf8')) differing.push(name);
    }
    expect(differing).toEqual([]);
    // and as a user runs it, for one: `diff <(modsurg inspect m.pth --repr) <(python -c 'print(torch.load(...))')` is empty
    expect(modsurg(['inspect', join(dir, 'tutorial_resnet50_new_fc.pth'), '--repr']).stdout).toBe(readFileSync(join(dir, 'tutorial_resnet50_new_fc.txt'), 'utf8'));
  });

  it('shows what torch prints for the layers people check: Conv2d, ReLU(inplace=True), MaxPool2d, Dropout, Softmax, Upsample, ModuleList runs', () => {
    const resnet = readFileSync(join(dir, 'torchvision_resnet50.txt'), 'utf8');
    expect(resnet).toContain('(conv1): Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)');
    expect(resnet).toContain('(relu): ReLU(inplace=True)');
    expect(resnet).toContain('(maxpool): MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)');
    expect(readFileSync(join(dir, 'tutorial_resnet50_new_fc.txt'), 'utf8')).toMatch(/\(dropout1\): Dropout\(p=0\.5, inplace=False\)\n\s+\(fc2\): Linear\(in_features=128, out_features=10, bias=True\)\n\s+\(output\): Softmax\(dim=1\)/);
    expect(readFileSync(join(dir, 'unet.txt'), 'utf8')).toContain("(up1): Upsample(scale_factor=2.0, mode='bilinear')");
    expect(readFileSync(join(dir, 'tutorial_modulelist.txt'), 'utf8')).toContain('(0-9): 10 x Linear(in_features=10, out_features=10, bias=True)');
  });

  it('--names lists named_modules(), as torch does: module.layer1.0.downsample behind DataParallel', async () => {
    for (const name of ['dataparallel', 'torchvision_resnet50', 'tutorial_moduledict', 'timm_convnext_atto']) {
      const run = modsurg(['inspect', join(dir, `${name}.pth`), '--names']);
      expect(run.stdout, name).toBe(readFileSync(join(dir, `${name}.names`), 'utf8'));
    }
    expect(readFileSync(join(dir, 'dataparallel.names'), 'utf8')).toContain('module.layer2.0.downsample\n');
  });

  it('inspect shows the printed model for a whole-model pickle, and a tree marked as inferred for a state dict', async () => {
    const whole = modsurg(['inspect', join(dir, 'unet.pth')]);
    expect(whole.stdout).toContain('the model, as print(model) shows it:\n  UNet(\n    (inc): DoubleConv(');
    const plain = modsurg(['inspect', fixture('resnet_sd.pth')]);
    expect(plain.stdout).toMatch(/modules \(inferred from the keys and shapes; a whole-model pickle would name them\):\n {2}Module\(/);
    const refused = modsurg(['inspect', fixture('resnet_sd.pth'), '--repr']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/resnet_sd\.pth: holds no pickled model, only tensors: print\(model\) needs the modules torch\.save\(model\) writes/);
  });
});
