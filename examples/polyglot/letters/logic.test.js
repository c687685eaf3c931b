import { test } from "node:test";
import assert from "node:assert/strict";
import { countLetters } from "./logic.js";

test("counts letters only", () => {
  assert.deepEqual(countLetters({ shouted: "HELLO, ADA!" }), { letters: 8 });
});

test("refuses a state without `shouted`", () => {
  assert.throws(() => countLetters({}), /state.shouted/);
});
