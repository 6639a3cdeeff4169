export * from "streamsock/ws";
export { default } from "streamsock/ws";
