/**
 * Stock forms of our layer classes, for models that must load where no @advprop package is
 * imported (the plain inference export of @advprop/dual-bn's `toInferenceModel`).
 *
 * A package that defines a layer class tfjs-layers lacks registers how one entry of a model's
 * config (`model.getConfig().layers[i]`) is written with stock layers: one or more entries, one
 * of which keeps the layer's name (and so its weights), the others new names of their own. In a
 * functional model's config the first replacement takes the original entry's inbound nodes and
 * each next one is fed by the one before, unless the lowering wires an entry itself (its own
 * `inboundNodes`, e.g. an Add fed by the kept layer and the original's second input); the last
 * entry is the output, and when it is not the one keeping the name, every reference to the
 * original layer elsewhere (consumers, the model's outputs) moves to it. In a Sequential's config
 * they simply follow each other.
 */

/** One layer of a model config, as tfjs-layers' `getConfig()` writes it. */
export interface LayerConfigEntry {
  className: string;
  config: Record<string, unknown>;
  name?: string;
  inboundNodes?: unknown[];
}

/**
 * Returns the stock layers for `entry`, in order, usually without inbound nodes (they are wired by
 * `lowerToStockLayers`); one of them must keep `entry`'s layer name.
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

/** A reference to a layer's output in a functional config: [layer name, node index, tensor index, kwargs?]. */
function isReference(value: unknown): value is [string, ...unknown[]] {
  return Array.isArray(value) && typeof value[0] === 'string' && typeof value[1] === 'number';
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
  const taken = new Set((layers as LayerConfigEntry[]).filter(Boolean).map(layerName));
  // Lowered layers whose output now comes from a layer of another name, and which original layer
  // each new entry stands for (its own references to the kept name are meant as they are).
  const outputOf = new Map<string, string>();
  const loweredFrom = new Map<LayerConfigEntry, string>();
  for (const entry of layers as LayerConfigEntry[]) {
    if (entry && typeof entry.config === 'object' && Array.isArray(entry.config['layers'])) count += lowerToStockLayers(entry.config);
    const lower = entry ? lowerings.get(entry.className) : undefined;
    if (!lower) {
      out.push(entry);
      continue;
    }
    const name = layerName(entry);
    const replacement = lower(entry);
    if (!replacement.some((part) => layerName(part) === name)) {
      throw new Error(`the stock lowering of ${entry.className} must keep a layer named "${name}" (it holds the weights)`);
    }
    for (const part of replacement) {
      const partName = layerName(part);
      if (partName !== name && taken.has(partName)) throw new Error(`the stock lowering of ${entry.className} "${name}" adds a layer "${partName}", a name the model already uses`);
      taken.add(partName);
    }
    const functional = entry.inboundNodes !== undefined;
    const output = layerName(replacement[replacement.length - 1]!);
    if (functional && output !== name) {
      if (entry.inboundNodes!.length > 1) throw new Error(`the stock lowering of ${entry.className} "${name}" moves its output to "${output}", which needs a layer applied once; it is applied ${entry.inboundNodes!.length} times`);
      outputOf.set(name, output);
    }
    let inbound = entry.inboundNodes;
    for (const part of replacement) {
      const partName = layerName(part);
      const wired = functional ? { ...part, name: partName, inboundNodes: part.inboundNodes ?? inbound } : part;
      out.push(wired);
      loweredFrom.set(wired, name);
      inbound = [[[partName, 0, 0, {}]]];
    }
    count++;
  }
  if (outputOf.size > 0) {
    const redirect = (reference: unknown, from?: string): unknown => {
      if (!isReference(reference)) return reference;
      const target = outputOf.get(reference[0]);
      return target && reference[0] !== from ? [target, ...reference.slice(1)] : reference;
    };
    for (const entry of out) {
      if (!entry || !Array.isArray(entry.inboundNodes)) continue;
      const from = loweredFrom.get(entry);
      entry.inboundNodes = entry.inboundNodes.map((node) => (Array.isArray(node) ? node.map((reference) => redirect(reference, from)) : node));
    }
    for (const key of ['outputLayers', 'output_layers']) {
      const outputs = modelConfig[key];
      if (Array.isArray(outputs)) modelConfig[key] = isReference(outputs) ? redirect(outputs) : outputs.map((reference) => redirect(reference));
    }
  }
  modelConfig['layers'] = out;
  return count;
}
