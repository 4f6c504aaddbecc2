/** @advprop/trainer: content lands with its issue. */
export const packageName = '@advprop/trainer';
