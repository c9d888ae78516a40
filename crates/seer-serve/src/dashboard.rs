//! The dashboard at `/`: one self-contained page (no external scripts or fonts) that reads the
//! API itself — `/health` for counts and events per minute, `/v1/models` for versions,
//! `/v1/users/{u}/history` and `/v1/recommend/{u}` for the user lookup — and plots events per
//! minute and recommendation p99 as it polls (every 2 s). When the server requires keys, the
//! page asks for one and keeps it in the browser's localStorage; `?key=` also sets it, and
//! `?user=ID` opens a user at once.

/// The page.
pub const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seer dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:.8em 1.5em;display:flex;gap:1em;align-items:baseline}
header h1{font-size:1.2em;margin:0}header span{opacity:.75}
main{padding:1em 1.5em;display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1em}
section{background:#fff;border-radius:8px;padding:1em;box-shadow:0 1px 2px #0001}
h2{font-size:1em;margin:0 0 .6em}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{flex:1;min-width:7em}
.card b{display:block;font-size:1.6em}.card small{opacity:.7}
table{border-collapse:collapse;width:100%}td,th{padding:.25em .5em;border-bottom:1px solid #eee;text-align:left;font-size:.95em}
.live{background:#e6f6ea;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
input,button{font:inherit;padding:.3em .6em}ol{padding-left:1.4em;margin:.3em 0}
#err{color:#b00020}svg{width:100%;height:140px;background:#fafbfc;border-radius:4px}
</style></head><body>
<header><h1>seer</h1><span id="model">…</span><span id="err"></span></header>
<main>
<section style="grid-column:1/-1"><h2>Now</h2><div class="cards">
 <div class="card"><small>events / minute</small><b id="epm">–</b></div>
 <div class="card"><small>events acknowledged</small><b id="events">–</b></div>
 <div class="card"><small>users</small><b id="users">–</b></div>
 <div class="card"><small>items</small><b id="items">–</b></div>
 <div class="card"><small>recommend p99 (bucket)</small><b id="p99">–</b></div>
</div></section>
<section><h2>Events per minute</h2><svg id="plot-epm" viewBox="0 0 400 140" preserveAspectRatio="none"></svg></section>
<section><h2>Recommendation p99, ms</h2><svg id="plot-p99" viewBox="0 0 400 140" preserveAspectRatio="none"></svg></section>
<section><h2>Model versions</h2><table id="versions"><thead><tr><th>version</th><th>model</th>
<th class="num">NDCG@10</th><th class="num">live's</th><th class="num">held out</th><th>swapped</th></tr></thead><tbody></tbody></table>
<p><small id="retraining"></small></p></section>
<section><h2>Look up a user</h2>
<form id="lookup"><input id="uid" placeholder="user id" required> <button>show</button></form>
<div id="user"></div></section>
</main>
<script>
const q=new URLSearchParams(location.search);
if(q.get('key'))localStorage.setItem('seerKey',q.get('key'));
const hist={epm:[],p99:[]};
async function api(path){
  const k=localStorage.getItem('seerKey');
  const r=await fetch(path,{headers:k?{'Authorization':'Bearer '+k}:{}});
  if(r.status===401){
    const key=prompt('This server needs an API key (read scope):');
    if(key){localStorage.setItem('seerKey',key);return api(path);}
  }
  if(!r.ok)throw new Error(path+': '+r.status);
  return r.json();
}
const esc=s=>String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
function plot(id,values){
  const svg=document.getElementById(id);
  if(values.length<1){svg.innerHTML='';return;}
  const max=Math.max(1e-9,...values),n=values.length;
  const pts=values.map((v,i)=>`${n===1?400:i*400/(n-1)},${135-112*v/max}`).join(' ');
  svg.innerHTML=`<polyline fill="none" stroke="#2f6fdb" stroke-width="2" points="${pts}"/>`+
    `<text x="4" y="12" font-size="11" fill="#555">max ${max.toFixed(max<10?2:0)}</text>`;
}
async function refresh(){
  try{
    const h=await api('/health');
    document.getElementById('model').textContent=h.model.split(':')[0]+' live';
    for(const [id,v] of [['epm',h.events_last_minute],['events',h.api_events],['users',h.users],['items',h.items]])
      document.getElementById(id).textContent=Number(v).toLocaleString();
    document.getElementById('p99').textContent=h.recommend_p99_ms?h.recommend_p99_ms+' ms':'–';
    hist.epm.push(h.events_last_minute);hist.p99.push(h.recommend_p99_ms||0);
    for(const k of ['epm','p99'])if(hist[k].length>150)hist[k].shift();
    plot('plot-epm',hist.epm);plot('plot-p99',hist.p99);
    const m=await api('/v1/models');
    document.querySelector('#versions tbody').innerHTML=m.versions.map(v=>
      `<tr class="${v.version===m.live?'live':''}"><td>v${v.version}${v.version===m.live?' (live)':''}</td>`+
      `<td>${esc(v.spec.split(':')[0])}</td><td class="num">${v.ndcg10==null?'–':v.ndcg10.toFixed(4)}</td>`+
      `<td class="num">${v.live_ndcg10==null?'–':v.live_ndcg10.toFixed(4)}</td><td class="num">${v.holdout}</td>`+
      `<td>${v.version===0?'start':(v.swapped?'yes':'no')}</td></tr>`).join('');
    document.getElementById('retraining').textContent=m.retraining?'retraining now…':'';
    document.getElementById('err').textContent='';
  }catch(e){document.getElementById('err').textContent=e.message;}
}
async function lookup(u){
  const el=document.getElementById('user');
  el.innerHTML='loading…';
  try{
    const [r,h]=await Promise.all([api('/v1/recommend/'+encodeURIComponent(u)+'?k=10'),
      api('/v1/users/'+encodeURIComponent(u)+'/history').catch(()=>({events:[]}))]);
    const last=h.events.slice(-10).reverse();
    el.innerHTML=`<p><b>${esc(u)}</b>: ${r.known?'known':'new'} user, ${r.history_len} events; `+
      `recommendations from the ${r.source==='model'?'model':'most popular items (no history yet)'}.</p>`+
      `<h2>Recommended</h2><ol id="recs">${r.items.map(i=>`<li>${esc(i.title)} <small>(${esc(i.item)}, ${i.score.toFixed(3)})</small></li>`).join('')}</ol>`+
      `<h2>Latest events</h2><ol>${last.map(e=>`<li>${esc(e.title||e.item)} <small>(${esc(e.item)}) ${new Date(e.ts*1000).toISOString().slice(0,16).replace('T',' ')}</small></li>`).join('')}</ol>`;
  }catch(e){el.textContent=e.message;}
}
document.getElementById('lookup').addEventListener('submit',ev=>{ev.preventDefault();lookup(document.getElementById('uid').value);});
refresh();setInterval(refresh,2000);
if(q.get('user')){document.getElementById('uid').value=q.get('user');lookup(q.get('user'));}
</script></body></html>"##;
