/**
 * BatchNorm routing. A dual-BN layer holds a main BN (clean images) and an auxiliary BN
 * (adversarial images); which one a forward pass uses is chosen per model by the caller.
 *
 * The route is stored on the routable layers of one model, so two models never see each other's
 * route, and `withRoute` restores the previous route when its function returns or throws.
 * The mechanism lives in core (not in @advprop/dual-bn) so attackers and the trainer can route a
 * model without depending on the layer implementation: anything that carries `ROUTABLE` takes part.
 */
import { ConfigError } from './errors.js';

export const BN_ROUTES = ['main', 'aux'] as const;
export type BnRoute = (typeof BN_ROUTES)[number];

/** Marker property set by routable layers (the dual-BN layer). */
export const ROUTABLE: unique symbol = Symbol.for('@advprop/core/routable');

export interface RoutableLayer {
  readonly [ROUTABLE]: true;
  route: BnRoute;
}

interface LayerContainer {
  readonly layers?: readonly unknown[];
}

export function isBnRoute(value: unknown): value is BnRoute {
  return value === 'main' || value === 'aux';
}

export function assertBnRoute(value: unknown, field = 'route'): BnRoute {
  if (!isBnRoute(value)) {
    throw new ConfigError(
      `${field}: unknown BN route ${JSON.stringify(value)}; expected one of ${BN_ROUTES.map((r) => `"${r}"`).join(', ')}`,
      [{ path: field, message: 'unknown BN route' }],
    );
  }
  return value;
}

export function isRoutableLayer(layer: unknown): layer is RoutableLayer {
  return typeof layer === 'object' && layer !== null && (layer as Partial<RoutableLayer>)[ROUTABLE] === true;
}

/** Every routable layer of a model, nested models included (each layer once). */
export function routableLayers(model: unknown): RoutableLayer[] {
  const found: RoutableLayer[] = [];
  const seen = new Set<unknown>();
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object' || seen.has(node)) return;
    seen.add(node);
    if (isRoutableLayer(node)) found.push(node);
    const children = (node as LayerContainer).layers;
    if (Array.isArray(children)) for (const child of children) visit(child);
  };
  visit(model);
  return found;
}

/** Current route of a model: the common route of its routable layers, or null if it has none. */
export function getRoute(model: unknown): BnRoute | null {
  const layers = routableLayers(model);
  if (layers.length === 0) return null;
  return (layers[0] as RoutableLayer).route;
}

/**
 * Run `fn` with every routable layer of `model` on `route`, then restore each layer's previous
 * route, also when `fn` throws. A model without routable layers runs `fn` unchanged (a plain-BN
 * model has only one BN, which is then used for both routes).
 *
 * `fn` must be synchronous: a route held across an `await` could be seen by another task using the
 * same model. For async work, call `withRoute` around each synchronous forward pass.
 */
export function withRoute<T>(model: unknown, route: BnRoute, fn: () => T): T {
  assertBnRoute(route);
  const layers = routableLayers(model);
  const previous = layers.map((l) => l.route);
  for (const layer of layers) layer.route = route;
  try {
    const result = fn();
    if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
      throw new ConfigError('withRoute needs a synchronous function: the route would leak across await');
    }
    return result;
  } finally {
    layers.forEach((layer, i) => {
      layer.route = previous[i] as BnRoute;
    });
  }
}
