// Builds static/vendor/plotly-radreview-<version>.min.js: plotly.js with only the trace
// types in entry.js, bundled the way plotly.js builds its own dist files (esbuild, IIFE
// global "Plotly", its defines and aliases), with two differences:
// - attribute descriptions and other schema metadata are stripped from the sources,
//   like plotly.js's own dist bundles do (its tasks/compress_attributes.js, which is
//   not in the npm package; done here on the syntax tree);
// - CSS imports are empty: the only one is maplibre's, for map traces, which this
//   bundle leaves out.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

import * as acorn from 'acorn';

const require = createRequire(import.meta.url);
const version = require('plotly.js/package.json').version;
const outfile = process.argv[2];

// Schema metadata the charts never read: only Plotly.PlotSchema (not used here) shows it.
const META_KEYS = new Set(['description', 'requiredOpts', 'otherOpts', 'role', 'hrName']);

// Each metadata property's value becomes '' (the property stays, so nothing else moves):
// found on the syntax tree, not by regular expressions, so a "]" or ")" inside a
// description cannot cut into the code around it.
function stripMeta(source, path) {
    const tree = acorn.parse(source, { ecmaVersion: 'latest', sourceType: 'script' });
    const ranges = [];
    (function walk(node, parent) {
        if (!node || typeof node.type !== 'string') return;
        const meta =
            node.type === 'Property' &&
            parent?.type === 'ObjectExpression' && // not a destructuring pattern
            !node.computed &&
            !node.shorthand &&
            META_KEYS.has(node.key.name ?? node.key.value);
        if (meta) {
            ranges.push([node.value.start, node.value.end]);
            return;
        }
        for (const value of Object.values(node)) {
            if (Array.isArray(value)) value.forEach((child) => walk(child, node));
            else if (value && typeof value.type === 'string') walk(value, node);
        }
    })(tree, null);
    let out = source;
    for (const [start, end] of ranges.sort((a, b) => b[0] - a[0])) {
        out = out.slice(0, start) + "''" + out.slice(end);
    }
    return out;
}

const stripMetaPlugin = {
    name: 'strip-meta-attributes',
    setup(b) {
        b.onLoad({ filter: /plotly\.js[\\/]src[\\/].*attributes\.js$/ }, async (args) => ({
            contents: stripMeta(await readFile(args.path, 'utf8'), args.path),
            loader: 'js',
        }));
    },
};

const noCss = {
    name: 'no-css',
    setup(b) {
        b.onResolve({ filter: /\.css$/ }, (args) => ({ path: args.path, namespace: 'no-css' }));
        b.onLoad({ filter: /.*/, namespace: 'no-css' }, () => ({ contents: '', loader: 'js' }));
    },
};

await build({
    entryPoints: ['entry.js'],
    outfile,
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    legalComments: 'none',
    banner: { js: `/* plotly.js v${version} (bar, heatmap, sankey, scatter) | MIT license | scripts/plotly-bundle */` },
    plugins: [stripMetaPlugin, noCss],
    alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
    define: { global: 'window', 'define.amd': 'false', 'process.env.NODE_DEBUG': 'false' },
    target: 'es2016',
    logLevel: 'info',
});
