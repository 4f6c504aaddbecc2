/** @advprop/cli: content lands with its issue. */
export const packageName = '@advprop/cli';
