/**
 * Stock forms of our layer classes, for models that must load where no @advprop package is
 * imported (the plain inference export of @advprop/dual-bn's `toInferenceModel`).
 *
 * A package that defines a layer class tfjs-layers lacks registers how one entry of a model's
 * config (`model.getConfig().layers[i]`) is written with stock layers: one or more entries, the
 * last of which keeps the layer's name (and so its weights), the others new names of their own.
 * In a functional model's config the first replacement takes the original entry's inbound nodes
 * and each next one is fed by the one before; in a Sequential's they simply follow each other.
 */

/** One layer of a model config, as tfjs-layers' `getConfig()` writes it. */
export interface LayerConfigEntry {
  className: string;
  config: Record<string, unknown>;
  name?: string;
  inboundNodes?: unknown[];
}

/**
 * Returns the stock layers for `entry`, in order, without inbound nodes (they are wired by
 * `lowerToStockLayers`); the last one must keep `entry`'s layer name.
 */
export type StockLowering = (entry: LayerConfigEntry) => LayerConfigEntry[];

const lowerings = new Map<string, StockLowering>();

/** Register the stock form of the layers of class `className` (the class name written in configs). */
export function registerStockLowering(className: string, lower: StockLowering): void {
  lowerings.set(className, lower);
}

/** The registered stock form of `className`, if any. */
export function stockLowering(className: string): StockLowering | undefined {
  return lowerings.get(className);
}

function layerName(entry: LayerConfigEntry): string {
  return String(entry.name ?? entry.config['name']);
}

/**
 * Rewrite a model config (functional or Sequential, nested models included) in place so that every
 * layer with a registered stock lowering is replaced by its stock layers. Returns how many layers
 * were lowered.
 */
export function lowerToStockLayers(modelConfig: Record<string, unknown>): number {
  const layers = modelConfig['layers'];
  if (!Array.isArray(layers)) return 0;
  let count = 0;
  const out: LayerConfigEntry[] = [];
  for (const entry of layers as LayerConfigEntry[]) {
    if (entry && typeof entry.config === 'object' && Array.isArray(entry.config['layers'])) count += lowerToStockLayers(entry.config);
    const lower = entry ? lowerings.get(entry.className) : undefined;
    if (!lower) {
      out.push(entry);
      continue;
    }
    const replacement = lower(entry);
    const last = replacement[replacement.length - 1];
    if (!last || layerName(last) !== layerName(entry)) {
      throw new Error(`the stock lowering of ${entry.className} must end with a layer named "${layerName(entry)}"`);
    }
    const functional = entry.inboundNodes !== undefined;
    let inbound = entry.inboundNodes;
    for (const part of replacement) {
      const name = layerName(part);
      out.push(functional ? { ...part, name, inboundNodes: inbound } : part);
      inbound = [[[name, 0, 0, {}]]];
    }
    count++;
  }
  modelConfig['layers'] = out;
  return count;
}
