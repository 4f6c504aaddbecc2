import { describe, expect, it } from 'vitest';
import { lowerToStockLayers, registerStockLowering, stockLowering, type LayerConfigEntry } from './stock-layers.js';

registerStockLowering('TestPaddedThing', (entry) => [
  { className: 'ZeroPadding2D', config: { name: `${String(entry.config['name'])}_pad`, padding: 1 } },
  { className: 'Conv2D', config: { ...entry.config, padding: 'valid' } },
]);
registerStockLowering('TestBadLowering', () => [{ className: 'Dense', config: { name: 'other' } }]);
// A norm-add-relu layer applied to [x, residual]: the kept layer, an Add wired by hand, a ReLU as output.
registerStockLowering('TestNormAddRelu', (entry) => {
  const name = String(entry.config['name']);
  const [x, residual] = (entry.inboundNodes?.[0] ?? []) as unknown[];
  return [
    { className: 'BatchNormalization', config: { name }, inboundNodes: [[x]] },
    { className: 'Add', config: { name: `${name}_add` }, inboundNodes: [[[name, 0, 0, {}], residual]] },
    { className: 'Activation', config: { name: `${name}_relu`, activation: 'relu' } },
  ];
});

const layer = (className: string, name: string, from?: string): LayerConfigEntry => ({
  className,
  config: { name },
  name,
  inboundNodes: from ? [[[from, 0, 0, {}]]] : [],
});

describe('stock lowerings', () => {
  it('replaces a functional model\'s layer by its stock layers, wired in order, keeping the name its consumers use', () => {
    const config: Record<string, unknown> = {
      name: 'm',
      layers: [layer('InputLayer', 'in'), layer('TestPaddedThing', 'conv', 'in'), layer('Dense', 'head', 'conv')],
      inputLayers: [['in', 0, 0]],
      outputLayers: [['head', 0, 0]],
    };
    expect(lowerToStockLayers(config)).toBe(1);
    const layers = config['layers'] as LayerConfigEntry[];
    expect(layers.map((l) => [l.className, l.name, JSON.stringify(l.inboundNodes)])).toEqual([
      ['InputLayer', 'in', '[]'],
      ['ZeroPadding2D', 'conv_pad', '[[["in",0,0,{}]]]'],
      ['Conv2D', 'conv', '[[["conv_pad",0,0,{}]]]'],
      ['Dense', 'head', '[[["conv",0,0,{}]]]'],
    ]);
    expect(layers[2]!.config['padding']).toBe('valid');
    expect(stockLowering('TestPaddedThing')).toBeTypeOf('function');
    expect(stockLowering('Conv2D')).toBeUndefined();
  });

  it('lowers inside nested models and Sequential configs (no inbound nodes), and leaves other layers alone', () => {
    const inner: Record<string, unknown> = { name: 'inner', layers: [{ className: 'TestPaddedThing', config: { name: 'c' } }, { className: 'Dense', config: { name: 'd' } }] };
    const outer: Record<string, unknown> = { name: 'outer', layers: [{ className: 'Sequential', config: inner, name: 'inner', inboundNodes: [] }] };
    expect(lowerToStockLayers(outer)).toBe(1);
    expect((inner['layers'] as LayerConfigEntry[]).map((l) => [l.className, l.config['name'], l.inboundNodes])).toEqual([
      ['ZeroPadding2D', 'c_pad', undefined],
      ['Conv2D', 'c', undefined],
      ['Dense', 'd', undefined],
    ]);
    expect(lowerToStockLayers({ name: 'none', layers: [layer('Dense', 'x')] })).toBe(0);
  });

  it('moves every reference to a layer whose stock output is another layer, lowered consumers and the model outputs included', () => {
    const refs = (...names: string[]) => [names.map((n) => [n, 0, 0, {}])];
    const config: Record<string, unknown> = {
      name: 'm',
      layers: [
        layer('InputLayer', 'in'),
        { ...layer('TestNormAddRelu', 'block1', 'in'), inboundNodes: refs('in', 'in') },
        { ...layer('TestNormAddRelu', 'block2', 'block1'), inboundNodes: refs('block1', 'block1') },
        layer('Dense', 'head', 'block2'),
      ],
      inputLayers: [['in', 0, 0]],
      outputLayers: [['head', 0, 0], ['block2', 0, 0]],
    };
    expect(lowerToStockLayers(config)).toBe(2);
    const layers = config['layers'] as LayerConfigEntry[];
    expect(layers.map((l) => [l.className, l.name, JSON.stringify(l.inboundNodes)])).toEqual([
      ['InputLayer', 'in', '[]'],
      ['BatchNormalization', 'block1', '[[["in",0,0,{}]]]'],
      ['Add', 'block1_add', '[[["block1",0,0,{}],["in",0,0,{}]]]'],
      ['Activation', 'block1_relu', '[[["block1_add",0,0,{}]]]'],
      ['BatchNormalization', 'block2', '[[["block1_relu",0,0,{}]]]'],
      ['Add', 'block2_add', '[[["block2",0,0,{}],["block1_relu",0,0,{}]]]'],
      ['Activation', 'block2_relu', '[[["block2_add",0,0,{}]]]'],
      ['Dense', 'head', '[[["block2_relu",0,0,{}]]]'],
    ]);
    expect(config['outputLayers']).toEqual([['head', 0, 0], ['block2_relu', 0, 0]]);
  });

  it('rejects a lowering that keeps no layer of the name, adds a name in use, or moves the output of a shared layer', () => {
    expect(() => lowerToStockLayers({ layers: [layer('TestBadLowering', 'keep')] })).toThrow(
      'the stock lowering of TestBadLowering must keep a layer named "keep" (it holds the weights)',
    );
    expect(() => lowerToStockLayers({ layers: [layer('InputLayer', 'in'), layer('Dense', 'b_add', 'in'), { ...layer('TestNormAddRelu', 'b'), inboundNodes: [[['in', 0, 0, {}], ['b_add', 0, 0, {}]]] }] })).toThrow(
      'the stock lowering of TestNormAddRelu "b" adds a layer "b_add", a name the model already uses',
    );
    const shared = { ...layer('TestNormAddRelu', 'b'), inboundNodes: [[['in', 0, 0, {}], ['in', 0, 0, {}]], [['in', 0, 0, {}], ['in', 0, 0, {}]]] };
    expect(() => lowerToStockLayers({ layers: [layer('InputLayer', 'in'), shared] })).toThrow(
      'the stock lowering of TestNormAddRelu "b" moves its output to "b_relu", which needs a layer applied once; it is applied 2 times',
    );
  });
});
