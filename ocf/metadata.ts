// Agent meta-data: a typed description rendered as OCF XML. We stay inside the subset that both
// the OCF 1.0 DTD (ra-api-1.dtd, which ocf-tester checks with xmllint --valid) and pcs' OCF 1.1
// RelaxNG schema accept: content types string/integer/boolean/time, required/unique only, and the
// DTD's list of action names (so no reload-agent).

export interface ParamSpec {
  name: string;
  shortdesc: string;
  longdesc: string;
  type: 'string' | 'integer' | 'boolean' | 'time';
  default?: string;
  required?: boolean;
  unique?: boolean;
}

export interface ActionSpec {
  name: 'start' | 'stop' | 'monitor' | 'meta-data' | 'validate-all' | 'reload' | 'notify';
  timeout: string;
  interval?: string;
  depth?: string;
}

export interface AgentSpec {
  name: string;
  version: string;
  shortdesc: string;
  longdesc: string;
  parameters: ParamSpec[];
  actions: ActionSpec[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function metadataXml(a: AgentSpec): string {
  const params = a.parameters.map((p) => {
    const attrs = [`name="${esc(p.name)}"`];
    if (p.required === true) attrs.push('required="1"');
    if (p.unique === true) attrs.push('unique="1"');
    const dflt = p.default !== undefined ? ` default="${esc(p.default)}"` : '';
    return [
      `<parameter ${attrs.join(' ')}>`,
      `<longdesc lang="en">${esc(p.longdesc)}</longdesc>`,
      `<shortdesc lang="en">${esc(p.shortdesc)}</shortdesc>`,
      `<content type="${p.type}"${dflt}/>`,
      '</parameter>',
    ].map((l, i) => (i === 0 || i === 4 ? `    ${l}` : `      ${l}`)).join('\n');
  });
  const actions = a.actions.map((x) => {
    const extra = [x.interval !== undefined ? ` interval="${x.interval}"` : '', x.depth !== undefined ? ` depth="${x.depth}"` : ''].join('');
    return `    <action name="${x.name}" timeout="${x.timeout}"${extra}/>`;
  });
  return [
    '<?xml version="1.0"?>',
    '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">',
    `<resource-agent name="${esc(a.name)}" version="${esc(a.version)}">`,
    '  <version>1.1</version>',
    `  <longdesc lang="en">${esc(a.longdesc)}</longdesc>`,
    `  <shortdesc lang="en">${esc(a.shortdesc)}</shortdesc>`,
    '  <parameters>',
    ...params,
    '  </parameters>',
    '  <actions>',
    ...actions,
    '  </actions>',
    '</resource-agent>',
    '',
  ].join('\n');
}
