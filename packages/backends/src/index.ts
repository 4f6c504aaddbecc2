/** @advprop/backends: content lands with its issue. */
export const packageName = '@advprop/backends';
