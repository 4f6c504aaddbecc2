/** @advprop/attacks: content lands with its issue. */
export const packageName = '@advprop/attacks';
