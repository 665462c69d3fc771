export * from './recorder.js';
export * from './routes.js';
export * from './summary.js';
