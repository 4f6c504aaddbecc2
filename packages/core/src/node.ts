// Node-only helpers (file system); kept out of the main entry so core stays browser-safe.
export * from './atomic-write.js';
export * from './fs-helpers.js';
