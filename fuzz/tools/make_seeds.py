#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/corpus/<target>/ from the repo's fixtures and
shared/ reference files (valid examples, kept small). Run from the repo root:
    python3 fuzz/tools/make_seeds.py [shared_dir]
Seeds of targets whose first byte selects a route/tokenizer/template carry that byte."""
import json, os, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, '..', 'shared')
OUT = os.path.join(ROOT, 'fuzz', 'corpus')


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def read(path, mode='r'):
    with open(path, mode) as f:
        return f.read()


# --- config.json -------------------------------------------------------------------------------
conf = json.loads(read(os.path.join(ROOT, 'conf', 'config.json')))
put('config_json', 'default', json.dumps(conf, indent=1))
multi = json.loads(json.dumps(conf))
multi['BackendConfig']['multiNodesInferEnabled'] = True
multi['BackendConfig']['interNodeTLSEnabled'] = False
multi['ServerConfig']['httpsEnabled'] = False
multi['ServerConfig']['ipAddress'] = '127.0.0.1'
multi['ServerConfig']['managementIpAddress'] = '127.0.0.2'
put('config_json', 'multi_node_plain', json.dumps(multi))
put('config_json', 'minimal', json.dumps({'BackendConfig': {'ModelDeployConfig': {
    'ModelConfig': [{'modelName': 'm', 'modelWeightPath': 'models/m'}]}}}))

# --- ranktable.json ----------------------------------------------------------------------------
def server(ip, ranks):
    return {'server_id': ip, 'container_ip': ip, 'device': [
        {'device_id': str(i), 'device_ip': ip, 'rank_id': str(r)} for i, r in enumerate(ranks)]}

put('ranktable', 'two_by_two', json.dumps({'version': '1.0', 'status': 'completed',
    'server_count': '2', 'server_list': [server('127.0.1.1', [0, 1]), server('127.0.1.2', [2, 3])]}))
put('ranktable', 'single', json.dumps({'version': '1.0', 'status': 'completed',
    'server_count': '1', 'server_list': [server('127.0.1.1', [0])]}))

# --- safetensors -------------------------------------------------------------------------------
def safetensors(tensors, meta=None):
    header, data = {}, b''
    if meta:
        header['__metadata__'] = meta
    for name, dtype, shape, size in tensors:
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(data), len(data) + size]}
        data += bytes(range(256)) * (size // 256) + bytes(size % 256)
    h = json.dumps(header).encode()
    return struct.pack('<Q', len(h)) + h + data

put('safetensors', 'two_tensors', safetensors(
    [('model.embed_tokens.weight', 'F32', [4, 8], 128), ('lm_head.weight', 'BF16', [4, 8], 64)],
    {'format': 'pt'}))
put('safetensors', 'f16_and_empty', safetensors([('a', 'F16', [3], 6), ('z', 'F32', [0, 5], 0)]))

# --- model config.json / generation_config.json --------------------------------------------------
stories = os.path.join(SHARED, 'models', 'stories260K')
put('hf_config', 'stories_config', read(os.path.join(stories, 'config.json')))
put('hf_config', 'stories_generation', read(os.path.join(stories, 'generation_config.json')))
put('hf_config', 'llama31_rope', json.dumps({
    'architectures': ['LlamaForCausalLM'], 'hidden_size': 64, 'intermediate_size': 128,
    'num_hidden_layers': 2, 'num_attention_heads': 4, 'num_key_value_heads': 2,
    'vocab_size': 512, 'max_position_embeddings': 1024, 'rms_norm_eps': 1e-5,
    'rope_theta': 500000.0, 'rope_scaling': {'rope_type': 'llama3', 'factor': 8.0,
    'low_freq_factor': 1.0, 'high_freq_factor': 4.0, 'original_max_position_embeddings': 8192},
    'bos_token_id': 1, 'eos_token_id': [2, 3], 'torch_dtype': 'bfloat16', 'tie_word_embeddings': True}))
put('hf_config', 'qwen3', json.dumps({
    'architectures': ['Qwen3ForCausalLM'], 'hidden_size': 64, 'intermediate_size': 128,
    'num_hidden_layers': 2, 'num_attention_heads': 4, 'num_key_value_heads': 2, 'head_dim': 32,
    'vocab_size': 512, 'max_position_embeddings': 1024, 'rope_theta': 1000000.0,
    'sliding_window': None, 'use_sliding_window': False}))

# --- tokenizers ----------------------------------------------------------------------------------
put('tokenizer_json', 'stories260K', read(os.path.join(stories, 'tokenizer.json')))
put('tokenizer_json', 'tiny_byte_level', json.dumps({
    'version': '1.0', 'added_tokens': [{'id': 5, 'content': '<|end|>', 'single_word': False,
    'lstrip': False, 'rstrip': False, 'normalized': False, 'special': True}],
    'normalizer': {'type': 'NFC'},
    'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
        {'type': 'Split', 'pattern': {'Regex': "(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+"},
         'behavior': 'Isolated', 'invert': False},
        {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False}]},
    'post_processor': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': False, 'use_regex': True},
    'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
    'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': None,
              'end_of_word_suffix': None, 'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
              'vocab': {'H': 0, 'e': 1, 'l': 2, 'o': 3, 'He': 4},
              'merges': ['H e']}}))
texts = ['Hello world! The quick brown fox.', "I'm sure you'll love it; they've said",
         '你好，世界 🙂 naïve café', '  leading  spaces\tand\ttabs\n\nnewlines ',
         '<s>[INST] hi [/INST]</s><|im_start|>user', '12345 3.14 -7 0x1F']
for i, t in enumerate(texts):
    put('tokenizer_encode', f'text{i}', bytes([i * 5 % 64]) + t.encode())
put('tokenizer_encode', 'ids', bytes([32 | 1]) + struct.pack('<8i', 1, 2, 300, 31999, 13, 0, 5, 7))

# --- chat templates ------------------------------------------------------------------------------
tdir = os.path.join(ROOT, 'tests', 'jinja', 'fixtures', 'templates')
for name in ['chatml', 'llama2', 'mistral-v0.3', 'phi3', 'qwen2.5', 'macro_roles',
             'hermes2pro-tool-use', 'llama3.2']:
    put('jinja_template', name, read(os.path.join(tdir, name + '.jinja')))
feature = json.loads(read(os.path.join(ROOT, 'tests', 'jinja', 'fixtures', 'feature_cases.json')))
for i, case in enumerate(feature[::6][:24]):
    put('jinja_template', f'feature{i}', case['template'])

msgs = [{'role': 'system', 'content': 'You are helpful.'}, {'role': 'user', 'content': 'Hi!'},
        {'role': 'assistant', 'content': 'Hello.'}, {'role': 'user', 'content': 'Weather?'}]
tools = [{'type': 'function', 'function': {'name': 'get_weather', 'description': 'Weather of a city',
          'parameters': {'type': 'object', 'properties': {'city': {'type': 'string'}}, 'required': ['city']}}}]
for sel in range(3):
    put('chat_messages', f'plain{sel}', bytes([sel]) + json.dumps(msgs).encode())
    put('chat_messages', f'tools{sel}', bytes([sel]) + json.dumps({
        'messages': msgs + [{'role': 'assistant', 'content': '', 'tool_calls': [{'type': 'function',
            'function': {'name': 'get_weather', 'arguments': {'city': 'Paris'}}}]},
            {'role': 'tool', 'content': '{"temp": 20}'}],
        'tools': tools, 'add_generation_prompt': True,
        'chat_template_kwargs': {'enable_thinking': False}}).encode())
put('chat_messages', 'continue', bytes([1]) + json.dumps({'messages': msgs[:3],
    'continue_final_message': True, 'documents': [{'title': 't', 'text': 'x'}]}).encode())

# --- HTTP bodies (first byte: route index within the family; bit 7: OpenAI native flavour) ------
def body(target, name, sel, obj):
    put(target, name, bytes([sel]) + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()))

body('http_openai', 'chat', 0, {'model': 'stories260K', 'messages': [
    {'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': [{'type': 'text', 'text': 'Hi'}]}],
    'temperature': 0.7, 'top_p': 0.9, 'top_k': 40, 'max_tokens': 12, 'seed': 7, 'stop': ['\n\n'],
    'logprobs': True, 'top_logprobs': 3, 'n': 2})
body('http_openai', 'chat_greedy', 0, {'model': 'stories260K', 'messages': msgs, 'max_tokens': 5})
body('http_openai', 'chat_stream_tools', 0x80, {'model': 'stories260K', 'stream': True,
    'stream_options': {'include_usage': True}, 'messages': msgs, 'tools': tools, 'tool_choice': 'auto'})
body('http_openai', 'completions', 1, {'model': 'stories260K', 'prompt': 'Once upon a time',
    'max_tokens': 8, 'echo': True, 'logprobs': 2, 'n': 2, 'best_of': 3, 'stop': 'x',
    'temperature': 0.8})
body('http_openai', 'completions_ids', 1, {'model': 'stories260K', 'prompt': [1, 2, 3, 4],
    'stream': True, 'max_tokens': 4})
body('http_vllm', 'generate', 0, {'prompt': 'Once upon', 'max_tokens': 8, 'temperature': 0.5,
    'stream': False, 'n': 2, 'stop': ['.'], 'repetition_penalty': 1.1})
body('http_vllm', 'tokenize', 1, {'model': 'stories260K', 'prompt': 'Hello there', 'add_special_tokens': True})
body('http_vllm', 'tokenize_chat', 1, {'messages': msgs, 'add_generation_prompt': True})
body('http_vllm', 'detokenize', 2, {'tokens': [1, 300, 400, 13]})
body('http_tgi', 'root', 0, {'inputs': 'Once upon', 'parameters': {'max_new_tokens': 8, 'do_sample': True,
    'temperature': 0.8, 'top_k': 10, 'details': True, 'decoder_input_details': True, 'seed': 3,
    'return_full_text': True, 'stop': ['.'], 'truncate': 5}, 'stream': False})
body('http_tgi', 'generate', 1, {'inputs': 'Hi', 'parameters': {'max_new_tokens': 4, 'best_of': 2,
    'do_sample': True, 'watermark': False, 'typical_p': 0.9}})
body('http_tgi', 'generate_stream', 2, {'inputs': 'Hi', 'parameters': {'max_new_tokens': 4, 'details': True}})
body('http_triton', 'generate', 0, {'text_input': 'Once upon', 'parameters': {'max_new_tokens': 8,
    'temperature': 0.5, 'details': True, 'batch_size': 1}, 'id': 'a1'})
body('http_triton', 'generate_stream', 1, {'text_input': 'Hi', 'parameters': {'max_new_tokens': 4}})
body('http_triton', 'infer', 2, {'id': 'r1', 'inputs': [{'name': 'input0', 'shape': [1, 4],
    'datatype': 'UINT32', 'data': [1, 300, 400, 13], 'parameters': {'max_new_tokens': 4, 'details': True}}],
    'outputs': [{'name': 'output0'}]})
body('http_triton', 'stop', 3, {'id': 'r1'})
body('http_native', 'infer', 0, {'inputs': 'Once upon', 'stream': False, 'parameters': {
    'max_new_tokens': 8, 'details': True, 'temperature': 0.5, 'priority': 3, 'timeout': 30}})
body('http_native', 'infer_token', 1, {'input_id': [1, 300, 400], 'stream': True,
    'parameters': {'max_new_tokens': 4}})
body('http_native', 'tokenizer', 2, {'inputs': 'Hello world'})

# --- control plane -------------------------------------------------------------------------------
def varint(n):
    out = b''
    while True:
        b = n & 0x7f
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out

def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload

def join_request(version, node, ranks, fp, incarnation):
    m = field(1, 0, version) + field(2, 2, node.encode())
    m += field(3, 2, b''.join(varint(r) for r in ranks))  # packed repeated int32
    for f, v in fp:
        m += field(4, 2, field(1, 2, f.encode()) + field(2, 2, v.encode()))
    return m + field(5, 0, incarnation)

fp = [('model.config_json.sha256', '3f2a'), ('model.architecture', 'LlamaForCausalLM'),
      ('model.shape', '64x5x8x4'), ('tp.world_size', '4'),
      ('tp.layout', '127.0.1.1:0;127.0.1.2:1,2;127.0.1.3:3'), ('generation.temperature', '1'),
      ('env.HCCL_DETERMINISTIC', 'false')]
put('cluster_join', 'accepted', join_request(1, '127.0.1.2', [1, 2], fp, 77))
put('cluster_join', 'fingerprint_differs', join_request(1, '127.0.1.3', [3], fp[:3] + [('tp.world_size', '2')], 5))
put('cluster_join', 'wrong_ranks', join_request(1, '127.0.1.2', [2, 1], fp, 1))

def plan(step_id, seqs, copies=(), shutdown=False):
    b = struct.pack('<IHBQI', 0x3150534D, 1, 1 if shutdown else 0, step_id, len(seqs))
    for seq_id, start, flags, tokens, blocks in seqs:
        b += struct.pack('<QqB', seq_id, start, flags)
        b += struct.pack('<I', len(tokens)) + struct.pack(f'<{len(tokens)}i', *tokens)
        b += struct.pack('<I', len(blocks)) + struct.pack(f'<{len(blocks)}i', *blocks)
    b += struct.pack('<I', len(copies))
    for s, d in copies:
        b += struct.pack('<ii', s, d)
    return b

put('step_plan', 'prefill_and_decode', plan(7, [(1, 0, 2, [1, 300, 400, 13, 7], [0]),
                                                (2, 17, 3, [99], [1, 2])]))
put('step_plan', 'copy_only', plan(8, [], [(1, 3)]))
put('step_plan', 'keepalive', plan(0, []))
put('step_plan', 'shutdown', plan(0, [], shutdown=True))
print('seeds written under', OUT)
