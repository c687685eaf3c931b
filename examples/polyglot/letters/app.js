// A WTB node in JavaScript: the wtb:node world's `run`, built with
// `componentize-js app.js --wit ../../../wit -n node -d http -d fetch-event -o letters.wasm`.
import { emit } from "wtb:node/host@0.1.0";
import { countLetters } from "./logic.js";

export function run(input) {
  let update;
  try {
    update = countLetters(JSON.parse(input.state));
  } catch (e) {
    // A node-error variant: the guest's own verdict, not a trap.
    throw { tag: "invalid-input", val: String(e.message ?? e) };
  }
  emit("counted", JSON.stringify(update));
  return { update: JSON.stringify(update) };
}
