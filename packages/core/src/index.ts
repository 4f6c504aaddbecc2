export * from './errors.js';
export * from './random.js';
export * from './bn-route.js';
export * from './contracts.js';
export * from './registry.js';
export * from './validation.js';
export * from './forward.js';
export * from './leak-check.js';
