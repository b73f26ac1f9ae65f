"""The decoder snippet a submission ships to read its artifact (`golfkit build --emit-loader`).

The snippet is short plain Python, specialised to the features the artifact uses (outer codec,
part codecs, schemes), so that its bytes, which count in the 16,000,000 budget, stay few. It
defines `load_artifact(path) -> {name: tensor}`, the dequantized state dict.
"""

from __future__ import annotations

from golfkit.artifact.container import Artifact, container_version

_HEAD = '''import json,struct,numpy as np,torch{imports}
def load_artifact(path):
 b={outer};h=struct.unpack('<I',b[8:12])[0];H=json.loads(b[12:12+h]);d=memoryview(b)[12+h:];sd={{}}
 for e in H['tensors']:
  P={{}}
  for r,p in e['parts'].items():
   o,n,s,t=p['offset'],p['nbytes'],p['shape'],p['dtype'];x=d[o:o+n];c=p.get('coding');y=np.dtype('int16' if t=='bfloat16' else t)
   a={decode_part}
   a=torch.from_numpy(a.copy());P[r]=a.view(torch.bfloat16) if t=='bfloat16' else a
  k=e['scheme']
  if k=='raw':w=P['data']
  else:
   q,z=P['q'].float(),P['scale'].float();w=q*(z[:,None] if z.dim()==1 else z.repeat_interleave(q.shape[1]//z.shape[1],1))
  sd[e['name']]=w.to(getattr(torch,e['dtype'])).reshape(e['shape'])
 return sd
'''
_ANS = '''def _ids(x,n,G):
 b=G.bit_length()-1;m=(n*b+7)//8
 return m,(np.unpackbits(np.frombuffer(x[:m],np.uint8))[:n*b].reshape(n,b).astype(int)<<np.arange(b)).sum(1)
def _p(t):
 p=np.where(t>0,np.exp2((t-255.)/16),0.);return p/p.sum()
def _ans(x,c,s):
 i,rg=_ids(x,s[0],c['rg']);x=x[i:];i,cg=_ids(x,s[1],c['cg']);x=x[i:];lo=c['lo'];A=c['hi']-lo+1;K=c['rg']*c['cg']
 if c.get('mode')=='scaled':
  T=np.frombuffer(x[:A+K],np.uint8);x=x[A+K:];F=np.concatenate([[0.],np.cumsum(_p(T[:A]))]);e=np.arange(lo,lo+A+1)-.5;z=np.exp2((T[A:]-64.)/16)[:,None]
  P=np.maximum(np.interp(e[None,1:]/z,e,F)-np.interp(e[None,:-1]/z,e,F),1e-9);P=P/P.sum(1,keepdims=True)
 else:P=[_p(t) for t in np.frombuffer(x[:K*A],np.uint8).reshape(K,A)];x=x[K*A:]
 D=constriction.stream.stack.AnsCoder(np.frombuffer(x,'<u4').astype(np.uint32));a=np.empty(s,np.int8)
 for k in range(K):
  I,J=np.flatnonzero(rg==k//c['cg']),np.flatnonzero(cg==k%c['cg'])
  if len(I)*len(J):a[np.ix_(I,J)]=(D.decode(constriction.stream.model.Categorical(P[k],perfect=False),len(I)*len(J))+lo).reshape(len(I),len(J))
 return a
'''
_GENERAL = '''def _gen(x,c,s,y):
 k=c['codec'];x=bytes(x)
{branches} L=c['layout'];f=c.get('stride',2)
 if L=='shuffle':
  u=np.frombuffer(x,np.uint8);v=np.empty_like(u);j=0
  for i in range(f):m=len(range(i,len(u),f));v[i::f]=u[j:j+m];j+=m
  x=v.tobytes()
 return np.frombuffer(x,y).reshape(s[::-1]).T if L=='col' and len(s)==2 else np.frombuffer(x,y).reshape(s)
'''
_BRANCH = {
    "zlib": " if k=='zlib':x=zlib.decompress(x)\n",
    "zstd": " if k=='zstd':x=zstandard.ZstdDecompressor().stream_reader(x).read()\n",
    "lzma": " if k=='lzma':x=lzma.decompress(x,lzma.FORMAT_RAW,filters=[{'id':lzma.FILTER_LZMA2,'dict_size':c['dict'],"
            "'lc':c['lc'],'lp':c['lp'],'pb':c['pb']}])\n",
    "xz": " if k=='xz':x=lzma.decompress(x)\n",
    "brotli": " if k=='brotli':x=brotli.decompress(x)\n",
}
_MODULE = {"zlib": "zlib", "zstd": "zstandard", "lzma": "lzma", "xz": "lzma", "brotli": "brotli", "ans": "constriction"}


def features(artifact: Artifact) -> tuple[set[str], set[str]]:
    """(part codecs, schemes) used by an artifact whose records carry codings."""
    part_codecs = {c["codec"] for rec in artifact.tensors for c in rec.coding.values()}
    return part_codecs, {rec.scheme for rec in artifact.tensors}


def emit_loader(artifact: Artifact, outer: str = "zstd") -> str:
    """Python source of `load_artifact(path)` for this artifact's features and outer codec."""
    part_codecs, _ = features(artifact)
    general = sorted(part_codecs - {"ans", "none"})
    modules = {_MODULE[outer]} | {_MODULE[c] for c in part_codecs if c != "none"}
    outer_call = (
        "zstandard.ZstdDecompressor().stream_reader(open(path,'rb').read()).read()"
        if outer == "zstd" else "zlib.decompress(open(path,'rb').read())"
    )
    plain = "np.frombuffer(x,y).reshape(s)"
    if "ans" in part_codecs and (general or "none" in part_codecs):
        decode = f"{plain} if c is None else _ans(x,c,s) if c['codec']=='ans' else _gen(x,c,s,y)"
    elif "ans" in part_codecs:
        decode = f"{plain} if c is None else _ans(x,c,s)"
    elif part_codecs:
        decode = f"{plain} if c is None else _gen(x,c,s,y)"
    else:
        decode = plain
    src = _HEAD.format(imports="".join("," + m for m in sorted(modules)), outer=outer_call, decode_part=decode)
    if "ans" in part_codecs:
        src += _ANS
    if general or "none" in part_codecs:
        src += _GENERAL.format(branches="".join(_BRANCH[c] for c in general))
    version = container_version(artifact)
    return f"# golfkit artifact loader (container v{version}): sd = load_artifact(path)\n" + src
