import { describe, expect, it } from 'vitest';
import { dropUnsafe } from '../../src/checkpoint/drop-unsafe.js';
import { None, py, type PyObject, type PyValue } from '../../src/checkpoint/pickle/value.js';

const call = (module: string, name: string, args: PyValue[] = []): PyObject => ({ kind: 'object', callable: py.global(module, name), args, newobj: false });

describe('dropUnsafe', () => {
  it('takes out calls of globals torch would refuse, from dicts and lists, and lists them by path', () => {
    const weights = py.dict([[py.str('w'), py.int(1)]], true);
    const root = py.dict([
      [py.str('model'), weights],
      [py.str('hook'), call('os', 'system', [py.str('id')])],
      [py.str('history'), py.list([py.float(0.5), call('builtins', 'eval', [py.str('1')]), py.float(0.25)])],
      [py.str('dtype'), py.global('torch', 'float32')],
      [py.str('class'), py.global('subprocess', 'Popen')],
    ]);
    const { root: kept, dropped } = dropUnsafe(root);
    expect(dropped).toEqual([
      { path: 'hook', global: 'os.system' },
      { path: 'history.1', global: 'builtins.eval' },
      { path: 'class', global: 'subprocess.Popen' },
    ]);
    expect(kept).toEqual(py.dict([[py.str('model'), weights], [py.str('history'), py.list([py.float(0.5), py.float(0.25)])], [py.str('dtype'), py.global('torch', 'float32')]]));
  });

  it('looks inside objects of allowed classes: an OrderedDict-like call whose argument is a payload goes too', () => {
    const wrapped = call('collections', 'OrderedDict', [call('posix', 'system', [py.str('id')])]);
    const { root, dropped } = dropUnsafe(py.dict([[py.str('x'), wrapped]]));
    expect(dropped).toEqual([{ path: 'x', global: 'posix.system' }]);
    expect(root).toEqual(py.dict([]));
  });

  it('an unsafe root becomes None; a safe tree is returned as it is', () => {
    expect(dropUnsafe(call('os', 'system')).root).toEqual(None);
    const safe = py.dict([[py.str('a'), py.list([py.int(1)])]]);
    expect(dropUnsafe(safe).root).toBe(safe);
  });

  it('an unsafe value shared by two containers is dropped from both, and each place is listed', () => {
    const evil = call('os', 'system');
    const { root, dropped } = dropUnsafe(py.list([py.list([evil]), py.list([evil, py.int(2)])]));
    expect(dropped.map((d) => d.path)).toEqual(['0.0', '1.0']);
    expect(root).toEqual(py.list([py.list([]), py.list([py.int(2)])]));
  });
});
