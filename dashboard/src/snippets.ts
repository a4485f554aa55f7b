// Code snippets for one API call in the four languages the docs show. Each is meant to run as
// pasted: real base URL, placeholders only for what the reader must supply (keys, ids).
export type Language = 'curl' | 'javascript' | 'python' | 'php';

export const LANGUAGES: { id: Language; label: string }[] = [
  { id: 'curl', label: 'cURL' },
  { id: 'javascript', label: 'JavaScript' },
  { id: 'python', label: 'Python' },
  { id: 'php', label: 'PHP' },
];

export interface Call {
  method: string;
  url: string;
  headers: [string, string][];
  /** Sent as JSON. */
  body?: Record<string, unknown>;
}

interface Style {
  str: (s: string) => string;
  pair: string;
  object: [string, string];
  array: [string, string];
  true: string;
  false: string;
  null: string;
}
const JS: Style = { str: (s) => JSON.stringify(s), pair: ': ', object: ['{', '}'], array: ['[', ']'], true: 'true', false: 'false', null: 'null' };
// JSON's string escapes are valid Python string escapes too.
const PYTHON: Style = { ...JS, true: 'True', false: 'False', null: 'None' };
const PHP: Style = { str: (s) => `'${s.replace(/[\\']/g, '\\$&')}'`, pair: ' => ', object: ['[', ']'], array: ['[', ']'], true: 'true', false: 'false', null: 'null' };

/** A value as a literal of the language, one entry a line, trailing commas (valid in all three). */
function literal(value: unknown, style: Style, indent: string, step: string): string {
  if (value === null || value === undefined) return style.null;
  if (typeof value === 'boolean') return value ? style.true : style.false;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return style.str(value);
  const list = Array.isArray(value);
  const entries = list ? value.map((v) => literal(v, style, indent + step, step)) : Object.entries(value as object).map(([k, v]) => style.str(k) + style.pair + literal(v, style, indent + step, step));
  const [open, close] = list ? style.array : style.object;
  if (!entries.length) return open + close;
  return `${open}\n${entries.map((e) => `${indent}${step}${e},`).join('\n')}\n${indent}${close}`;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function curl({ method, url, headers, body }: Call): string {
  const lines = [`curl ${method === 'GET' ? '' : `-X ${method} `}${shellQuote(url)}`, ...headers.map(([k, v]) => `-H ${shellQuote(`${k}: ${v}`)}`)];
  if (body) lines.push(`-d ${shellQuote(JSON.stringify(body))}`);
  return lines.join(' \\\n  ');
}

function javascript({ method, url, headers, body }: Call): string {
  const options = [`  method: '${method}',`];
  if (headers.length) options.push(`  headers: {\n${headers.map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)},`).join('\n')}\n  },`);
  if (body) options.push(`  body: JSON.stringify(${literal(body, JS, '  ', '  ')}),`);
  return `const response = await fetch(${JSON.stringify(url)}, {\n${options.join('\n')}\n});\nconst data = await response.json();\nconsole.log(data);`;
}

function python({ method, url, headers, body }: Call): string {
  // requests sets Content-Type itself for json=.
  const sent = headers.filter(([k]) => k !== 'Content-Type');
  const args = [`    ${JSON.stringify(url)},`];
  if (sent.length) args.push(`    headers=${literal(Object.fromEntries(sent), PYTHON, '    ', '    ')},`);
  if (body) args.push(`    json=${literal(body, PYTHON, '    ', '    ')},`);
  return `import requests\n\nresponse = requests.${method.toLowerCase()}(\n${args.join('\n')}\n)\nprint(response.json())`;
}

function php({ method, url, headers, body }: Call): string {
  const options = [`    CURLOPT_URL => ${PHP.str(url)},`, '    CURLOPT_RETURNTRANSFER => true,', `    CURLOPT_CUSTOMREQUEST => '${method}',`];
  if (headers.length)
    options.push(
      `    CURLOPT_HTTPHEADER => ${literal(
        headers.map(([k, v]) => `${k}: ${v}`),
        PHP,
        '    ',
        '    ',
      )},`,
    );
  if (body) options.push(`    CURLOPT_POSTFIELDS => json_encode(${literal(body, PHP, '    ', '    ')}),`);
  return `<?php\n$curl = curl_init();\ncurl_setopt_array($curl, [\n${options.join('\n')}\n]);\n$response = curl_exec($curl);\ncurl_close($curl);\necho $response;`;
}

const WRITERS: Record<Language, (call: Call) => string> = { curl, javascript, python, php };

export const snippet = (language: Language, call: Call) => WRITERS[language](call);
