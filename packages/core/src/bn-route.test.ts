import { describe, expect, it } from 'vitest';
import { ROUTABLE, getRoute, routableLayers, withRoute, type BnRoute, type RoutableLayer } from './bn-route.js';
import { ConfigError } from './errors.js';

function layer(): RoutableLayer {
  return { [ROUTABLE]: true, route: 'main' as BnRoute };
}

describe('withRoute', () => {
  it('routes nested models and restores the previous route', () => {
    const inner = { layers: [layer(), { name: 'dense' }] };
    const model = { layers: [layer(), inner] };
    expect(routableLayers(model)).toHaveLength(2);
    const seen = withRoute(model, 'aux', () => routableLayers(model).map((l) => l.route));
    expect(seen).toEqual(['aux', 'aux']);
    expect(getRoute(model)).toBe('main');
  });

  it('restores the route when the function throws', () => {
    const model = { layers: [layer()] };
    expect(() =>
      withRoute(model, 'aux', () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(getRoute(model)).toBe('main');
  });

  it('keeps two models apart', () => {
    const a = { layers: [layer()] };
    const b = { layers: [layer()] };
    withRoute(a, 'aux', () => {
      expect(getRoute(a)).toBe('aux');
      expect(getRoute(b)).toBe('main');
      withRoute(b, 'aux', () => expect(getRoute(a)).toBe('aux'));
      expect(getRoute(b)).toBe('main');
    });
    expect(getRoute(a)).toBe('main');
  });

  it('rejects unknown routes and async functions', () => {
    const model = { layers: [layer()] };
    expect(() => withRoute(model, 'adv' as BnRoute, () => 1)).toThrow(ConfigError);
    expect(() => withRoute(model, 'adv' as BnRoute, () => 1)).toThrow(/unknown BN route "adv"/);
    expect(() => withRoute(model, 'aux', async () => 1)).toThrow(/synchronous/);
    expect(getRoute(model)).toBe('main');
    expect(getRoute({ layers: [] })).toBeNull();
  });
});
