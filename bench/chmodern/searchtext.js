// Inserts N synthetic Django-style rows into the logs table on chDB, with or
// without the search_text ngram index, and times the rare-term search as the
// query service runs it. Usage: node searchtext.js SCHEMA.sql index|noindex N
// (bench/chmodern/run.sh does it both ways).
const fs = require('fs');
const chdb = require('chdb');
const dir = fs.mkdtempSync(require('os').tmpdir() + '/chmodern-');
const s = new chdb.Session(dir);
const ddl = fs.readFileSync(process.argv[2], 'utf8').split(';\n').map(x => x.trim()).filter(x => x);
const withIndex = process.argv[3] === 'index';
for (const q of ddl) { if (!withIndex && q.includes('ADD INDEX')) continue; s.query(q, 'TSV'); }
const n = Number(process.argv[4] || 3000000);
let t = Date.now();
s.query(`INSERT INTO logs (tenant_id, ts, ts_ns, observed_ns, retention_days, level, severity_number, message, service, environment, host, logger, trace_id, span_id, request_id, attr_keys, attr_values, num_keys, num_values, exc_type, exc_message, exc_stack, size_bytes, seq, idx)
SELECT 'bench0', toDateTime(1795600000 + intDiv(number, 40)), (1795600000 + intDiv(number, 40)) * 1000000000, 0, 7,
 ['info','info','info','warning','error'][number % 5 + 1], 9,
 concat(['GET','POST','PUT'][number % 3 + 1], ' /api/v1/items/', toString(number % 1000), ' completed in ', toString(number % 997), 'ms user=', toString(number % 50000), if(number % 100000 = 50000, ' frobnicator-overflow', '')),
 ['web','worker','api'][number % 3 + 1], 'production', concat('host-', toString(number % 20)), 'django.request', '', '', hex(sipHash64(number)),
 ['http.path','http.method','celery.task'], [concat('/api/v1/items/', toString(number % 1000)), 'GET', 'tasks.sync'], ['duration_ms','status_code'], [toFloat64(number % 997), 200.0],
 '', '', '', 400, intDiv(number, 1000), number % 1000
FROM numbers(${n})`, 'TSV');
console.log(`inserted ${n} rows in ${(Date.now()-t)/1000}s, index=${withIndex}`);
s.query('OPTIMIZE TABLE logs FINAL', 'TSV');
const q = `SELECT ts_ns, seq, idx FROM logs PREWHERE search_text LIKE '%frobnicator-overflow%' WHERE tenant_id = 'bench0' AND (positionCaseInsensitive(message, 'frobnicator-overflow') > 0 OR arrayExists(v -> positionCaseInsensitive(v, 'frobnicator-overflow') > 0, attr_values)) ORDER BY ts_ns DESC, seq DESC, idx DESC LIMIT 101`;
const times = [];
for (let i = 0; i < 6; i++) { t = process.hrtime.bigint(); const r = s.query(q, 'TSV'); times.push(Number(process.hrtime.bigint() - t) / 1e6); if (i == 0) console.log('rows', r.trim().split('\n').length); }
times.shift(); times.sort((a,b)=>a-b);
console.log(`rare term: p50 ${times[2].toFixed(1)} ms, max ${times[4].toFixed(1)} ms`);
const sz = s.query(`SELECT name, formatReadableSize(data_compressed_bytes) FROM system.data_skipping_indices WHERE table='logs'`, 'TSV');
console.log('index size', sz.trim());
fs.rmSync(dir, {recursive: true, force: true});
