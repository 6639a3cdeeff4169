// The import statements of a TypeScript module, read by a small lexer of our
// own (the layering test's parser): comments, strings, template literals
// (with their `${}` expressions) and regular expression literals are skipped
// as wholes, so an `import` inside a doc comment's example or a template
// string (a browser module served as text, say) is not taken for one.
//
// Found: `import ... from "x"`, `import "x"`, `import type ... from "x"`,
// `export ... from "x"` (`*`, `{ ... }`, `type { ... }`), dynamic
// `import("x")` and the type form `typeof import("x")` / `import("x").T`.
// Each import notes whether it is type-only (erased when compiled).

/** One import of a module. */
export interface Import {
  /** The module specifier as written. */
  specifier: string;
  /** The 1-based line the specifier is on. */
  line: number;
  /** `import type`, `export type`, every named binding marked `type`, or `import("x")` in a type. */
  typeOnly: boolean;
  /** `import("x")` as an expression (awaited at run time) or as a type. */
  dynamic: boolean;
}

interface Token {
  kind: "word" | "string" | "punct" | "template" | "regex" | "number";
  value: string;
  line: number;
}

/** Words after which a `/` starts a regular expression rather than a division. */
const BEFORE_REGEX = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/** The tokens of `source`, comments and whitespace dropped, template literals as one token each. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  // One entry per `{` open: true when it is a template literal's `${`.
  const braces: boolean[] = [];
  const n = source.length;

  const regexAllowed = () => {
    const last = tokens[tokens.length - 1];
    if (last === undefined) return true;
    if (last.kind === "punct") return !(last.value === ")" || last.value === "]" || last.value === "}");
    if (last.kind === "word") return BEFORE_REGEX.has(last.value);
    return false;
  };

  // Reads a template literal's text from `i` (just past "`" or "}"), up to its end or a "${".
  const templateText = () => {
    const startLine = line;
    while (i < n) {
      const c = source[i];
      if (c === "\\") {
        i += 2;
        continue;
      }
      if (c === "\n") line++;
      if (c === "`") {
        i++;
        tokens.push({ kind: "template", value: "`", line: startLine });
        return;
      }
      if (c === "$" && source[i + 1] === "{") {
        i += 2;
        braces.push(true);
        tokens.push({ kind: "template", value: "${", line: startLine });
        return;
      }
      i++;
    }
    throw new Error(`unterminated template literal from line ${startLine}`);
  };

  while (i < n) {
    const c = source[i];
    if (c === "\n") {
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r" || c === "\uFEFF") {
      i++;
    } else if (c === "/" && source[i + 1] === "/") {
      while (i < n && source[i] !== "\n") i++;
    } else if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2);
      if (end === -1) throw new Error(`unterminated comment from line ${line}`);
      for (let j = i; j < end; j++) if (source[j] === "\n") line++;
      i = end + 2;
    } else if (c === '"' || c === "'") {
      const startLine = line;
      let value = "";
      i++;
      while (i < n && source[i] !== c) {
        if (source[i] === "\n") throw new Error(`unterminated string on line ${startLine}`);
        if (source[i] === "\\") {
          value += source[i + 1];
          i += 2;
        } else value += source[i++];
      }
      i++;
      tokens.push({ kind: "string", value, line: startLine });
    } else if (c === "`") {
      i++;
      templateText();
    } else if (c === "/" && regexAllowed()) {
      const startLine = line;
      let inClass = false;
      i++;
      while (i < n) {
        const r = source[i];
        if (r === "\n") throw new Error(`unterminated regular expression on line ${startLine}`);
        if (r === "\\") i++;
        else if (r === "[") inClass = true;
        else if (r === "]") inClass = false;
        else if (r === "/" && !inClass) break;
        i++;
      }
      i++;
      while (i < n && /[a-z]/i.test(source[i])) i++;
      tokens.push({ kind: "regex", value: "/", line: startLine });
    } else if (/[A-Za-z_$]/.test(c)) {
      const start = i;
      while (i < n && /[\w$]/.test(source[i])) i++;
      tokens.push({ kind: "word", value: source.slice(start, i), line });
    } else if (/[0-9]/.test(c)) {
      const start = i;
      while (i < n && /[\w.]/.test(source[i])) i++;
      tokens.push({ kind: "number", value: source.slice(start, i), line });
    } else if (c === "{") {
      braces.push(false);
      tokens.push({ kind: "punct", value: c, line });
      i++;
    } else if (c === "}") {
      i++;
      if (braces.pop() === true) templateText();
      else tokens.push({ kind: "punct", value: c, line });
    } else {
      tokens.push({ kind: "punct", value: c, line });
      i++;
    }
  }
  return tokens;
}

/** The imports of a module's source, in order. */
export function importsOf(source: string): Import[] {
  const tokens = tokenize(source);
  const found: Import[] = [];
  const at = (k: number) => tokens[k] as Token | undefined;
  const is = (k: number, kind: Token["kind"], value?: string) =>
    at(k)?.kind === kind && (value === undefined || at(k)!.value === value);

  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.kind !== "word" || (t.value !== "import" && t.value !== "export")) continue;
    if (is(k - 1, "punct", ".")) continue; // a member named import/export
    if (t.value === "import" && is(k + 1, "punct", "(")) {
      if (!is(k + 2, "string")) continue; // import(expression): nothing to check statically
      const inType = is(k - 1, "word", "typeof") || is(k + 3, "punct", ")") && is(k + 4, "punct", ".") &&
          !is(k - 1, "word", "await");
      found.push({ specifier: at(k + 2)!.value, line: at(k + 2)!.line, typeOnly: inType, dynamic: true });
      continue;
    }
    if (t.value === "import" && is(k + 1, "punct", ".")) continue; // import.meta
    if (t.value === "import" && is(k + 1, "string")) {
      found.push({ specifier: at(k + 1)!.value, line: at(k + 1)!.line, typeOnly: false, dynamic: false });
      continue;
    }
    // A static import or a re-export: the clause up to `from "x"`.
    let j = k + 1;
    let typeOnly = is(j, "word", "type") && !is(j + 1, "word", "from") && !is(j + 1, "punct", "=");
    if (typeOnly) j++;
    if (t.value === "export" && !(is(j, "punct", "*") || is(j, "punct", "{"))) continue; // a declaration
    let bindings = 0;
    let typeBindings = 0;
    let defaultOrNamespace = false;
    let inBraces = false;
    let complete = false;
    for (; j < tokens.length; j++) {
      const u = tokens[j];
      if (u.kind === "punct" && u.value === "{") inBraces = true;
      else if (u.kind === "punct" && u.value === "}") {
        inBraces = false;
        if (t.value === "export" && !is(j + 1, "word", "from")) break; // export { a, b }: local
      } else if (u.kind === "punct" && u.value === "*") defaultOrNamespace = true;
      else if (u.kind === "word" && u.value === "from" && !inBraces && is(j + 1, "string")) {
        complete = true;
        break;
      } else if (u.kind === "word" && inBraces && (j === 0 || !is(j - 1, "word", "as"))) {
        if (u.value === "type" && is(j + 1, "word") && !is(j + 1, "word", "as")) {
          typeBindings++;
          bindings++;
          j++;
        } else if (u.value !== "as") bindings++;
      } else if (u.kind === "word" && !inBraces && u.value !== "as" && u.value !== "type") defaultOrNamespace = true;
      else if (u.kind === "punct" && (u.value === ";" || u.value === "=" || u.value === "(")) break;
    }
    if (!complete) continue;
    if (!typeOnly && !defaultOrNamespace && bindings > 0 && typeBindings === bindings) typeOnly = true;
    found.push({ specifier: at(j + 1)!.value, line: at(j + 1)!.line, typeOnly, dynamic: false });
    k = j + 1;
  }
  return found;
}
