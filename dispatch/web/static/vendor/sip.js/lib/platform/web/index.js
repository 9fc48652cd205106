export * from "./modifiers/index.js";
export * from "./session-description-handler/index.js";
export * from "./session-manager/index.js";
export * from "./simple-user/index.js";
export * from "./transport/index.js";
