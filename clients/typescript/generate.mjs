// Generates `schema.d.ts` from an OpenAPI document with openapi-typescript, binary fields as
// `Blob` (uploads are `FormData` parts). Fails on any warning the generator prints.
//
// Usage: node generate.mjs openapi.json schema.d.ts
import fs from "node:fs";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";

const [input, output] = process.argv.slice(2);
const warnings = [];
for (const level of ["warn", "error"]) {
  const original = console[level];
  console[level] = (...args) => {
    warnings.push(args.join(" "));
    original(...args);
  };
}

const BLOB = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier("Blob"));
const ast = await openapiTS(new URL(input, import.meta.url), {
  transform(schema) {
    if (schema.format === "binary") {
      return BLOB;
    }
  },
});
fs.writeFileSync(output, astToString(ast));
if (warnings.length > 0) {
  console.error(`openapi-typescript printed ${warnings.length} warning(s)`);
  process.exit(1);
}
