export * from './backend.js';
export * from './config.js';
export * from './openai_format.js';
export * from './router.js';
export * from './service.js';
export * from './toggle_store.js';
export * from './backend_pool.js';
