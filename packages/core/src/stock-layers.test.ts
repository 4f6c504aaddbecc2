import { describe, expect, it } from 'vitest';
import { lowerToStockLayers, registerStockLowering, stockLowering, type LayerConfigEntry } from './stock-layers.js';

registerStockLowering('TestPaddedThing', (entry) => [
  { className: 'ZeroPadding2D', config: { name: `${String(entry.config['name'])}_pad`, padding: 1 } },
  { className: 'Conv2D', config: { ...entry.config, padding: 'valid' } },
]);
registerStockLowering('TestBadLowering', () => [{ className: 'Dense', config: { name: 'other' } }]);

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

  it('rejects a lowering whose last layer does not keep the name', () => {
    expect(() => lowerToStockLayers({ layers: [layer('TestBadLowering', 'keep')] })).toThrow(
      'the stock lowering of TestBadLowering must end with a layer named "keep"',
    );
  });
});
