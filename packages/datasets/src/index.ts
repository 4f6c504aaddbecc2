/** @advprop/datasets: content lands with its issue. */
export const packageName = '@advprop/datasets';
