/** @advprop/models: content lands with its issue. */
export const packageName = '@advprop/models';
