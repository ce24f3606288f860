// Flyte's own protobuf code (@flyteorg/flyteidl) as a test peer for LiteralMaps.
//   node flyte-literals.js encode OUT.pb   < literal-map.json   (protobufjs fromObject form)
//   node flyte-literals.js decode IN.pb    > literal-map.json
//   node flyte-literals.js encode-literal OUT.pb < literal.json        (one Literal: an offloaded literal's file)
//   node flyte-literals.js decode-literal IN.pb > literal.json
//   node flyte-literals.js decode-error IN.pb > error-document.json
'use strict';
const fs = require('fs');
const { flyteidl } = require('@flyteorg/flyteidl/gen/pb-js/flyteidl.js');

const LiteralMap = flyteidl.core.LiteralMap;
const [mode, file] = process.argv.slice(2);
if (mode === 'encode') {
  // Plain objects in the generated classes' shape (enums as numbers); verify() checks the shape.
  const object = JSON.parse(fs.readFileSync(0, 'utf8'));
  const error = LiteralMap.verify(object);
  if (error) {
    throw new Error('not a LiteralMap: ' + error);
  }
  fs.writeFileSync(file, LiteralMap.encode(object).finish());
} else if (mode === 'decode') {
  const message = LiteralMap.decode(fs.readFileSync(file));
  // Own enumerable fields only: what was on the wire (longs as strings).
  process.stdout.write(JSON.stringify(message, (key, value) => (value && value.low !== undefined && value.high !== undefined ? String(value) : value)));
} else if (mode === 'encode-literal') {
  const object = JSON.parse(fs.readFileSync(0, 'utf8'));
  const error = flyteidl.core.Literal.verify(object);
  if (error) {
    throw new Error('not a Literal: ' + error);
  }
  fs.writeFileSync(file, flyteidl.core.Literal.encode(object).finish());
} else if (mode === 'decode-literal') {
  const message = flyteidl.core.Literal.decode(fs.readFileSync(file));
  process.stdout.write(JSON.stringify(message, (key, value) => (value && value.low !== undefined && value.high !== undefined ? String(value) : value)));
} else if (mode === 'decode-error') {
  // error.pb: flyteidl.core.ErrorDocument, written by flytekit when a task fails.
  process.stdout.write(JSON.stringify(flyteidl.core.ErrorDocument.decode(fs.readFileSync(file))));
} else {
  throw new Error('usage: flyte-literals.js encode|decode|encode-literal|decode-literal|decode-error FILE');
}
