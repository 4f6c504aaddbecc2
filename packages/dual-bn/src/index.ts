/** @advprop/dual-bn: content lands with its issue. */
export const packageName = '@advprop/dual-bn';
