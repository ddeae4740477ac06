#include "medvqa/io/unpickler.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "medvqa/core/error.h"

namespace medvqa {
namespace {

using Kind = PyValue::Kind;

PyRef make(Kind kind) {
  auto v = std::make_shared<PyValue>();
  v->kind = kind;
  return v;
}

// torch.<Name>Storage -> safetensors dtype name.
const std::map<std::string, std::string>& storage_dtypes() {
  static const std::map<std::string, std::string> kTypes{
      {"FloatStorage", "F32"}, {"DoubleStorage", "F64"}, {"HalfStorage", "F16"}, {"BFloat16Storage", "BF16"},
      {"LongStorage", "I64"},  {"IntStorage", "I32"},    {"ShortStorage", "I16"}, {"CharStorage", "I8"},
      {"ByteStorage", "U8"},   {"BoolStorage", "BOOL"}};
  return kTypes;
}

constexpr int kMaxDepth = 256;

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const std::string& source) : p_(data), size_(size), source_(source) {}

  PyRef run() {
    while (true) {
      op_at_ = pos_;
      uint8_t op = take(1)[0];
      switch (op) {
        case 0x80: take(1); break;  // PROTO
        case 0x95: take(8); break;  // FRAME: framing is transparent for an in-memory reader
        case '.': return stop();
        case '(': marks_.push_back(stack_.size()); break;
        case '}': push(make(Kind::kDict)); break;
        case ']': push(make(Kind::kList)); break;
        case ')': push(make(Kind::kTuple)); break;
        case 't': push(sequence(Kind::kTuple, pop_mark())); break;
        case 0x85: case 0x86: case 0x87: {
          size_t n = op - 0x84;
          need(n);
          std::vector<PyRef> items(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          push(sequence(Kind::kTuple, std::move(items)));
          break;
        }
        case 'l': push(sequence(Kind::kList, pop_mark())); break;
        case 'd': {
          auto d = make(Kind::kDict);
          set_items(d, pop_mark());
          push(d);
          break;
        }
        case 'a': { auto v = pop(); append(top(), {v}); break; }
        case 'e': { auto items = pop_mark(); append(top(), std::move(items)); break; }
        case 's': { auto v = pop(), k = pop(); set_items(top(), {k, v}); break; }
        case 'u': { auto items = pop_mark(); set_items(top(), std::move(items)); break; }
        case 'J': push_int(static_cast<int32_t>(le(4))); break;
        case 'K': push_int(static_cast<int64_t>(le(1))); break;
        case 'M': push_int(static_cast<int64_t>(le(2))); break;
        case 0x8a: push_int(long1()); break;
        case 'G': push_float(); break;
        case 0x88: case 0x89: { auto v = make(Kind::kBool); v->i = op == 0x88; push(v); break; }
        case 'N': push(make(Kind::kNone)); break;
        case 'X': push_string(Kind::kString, le(4)); break;
        case 0x8c: push_string(Kind::kString, le(1)); break;
        case 0x8d: push_string(Kind::kString, le(8)); break;
        case 'B': push_string(Kind::kBytes, le(4)); break;
        case 'C': push_string(Kind::kBytes, le(1)); break;
        case 'c': { std::string module = line(), name = line(); push(global(module, name)); break; }
        case 0x93: {
          auto name = pop(), module = pop();
          check(module->kind == Kind::kString && name->kind == Kind::kString, "STACK_GLOBAL needs two strings");
          push(global(module->s, name->s));
          break;
        }
        case 'R': { auto args = pop(), fn = pop(); push(reduce(fn, args)); break; }
        case 'b': build(pop()); break;
        case 'q': memo_[le(1)] = top(); break;
        case 'r': memo_[le(4)] = top(); break;
        case 0x94: memo_[memo_.size()] = top(); break;
        case 'h': push(memo_get(le(1))); break;
        case 'j': push(memo_get(le(4))); break;
        case 'Q': push(persistent_load(pop())); break;
        case '0': pop(); break;
        case '1': pop_mark(); break;
        case '2': push(top()); break;
        default: fail(detail::concat("unsupported pickle opcode 0x", std::hex, int(op), " (not a state dict?)"));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    MEDVQA_FAIL(source_, ": pickle byte ", op_at_, ": ", what);
  }
  void check(bool ok, const char* what) const {
    if (!ok) fail(what);
  }
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_) fail("truncated pickle");
    const uint8_t* at = p_ + pos_;
    pos_ += n;
    return at;
  }
  uint64_t le(int n) {
    const uint8_t* b = take(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  std::string line() {
    const uint8_t* start = p_ + pos_;
    const void* nl = std::memchr(start, '\n', size_ - pos_);
    if (!nl) fail("truncated GLOBAL");
    size_t n = static_cast<const uint8_t*>(nl) - start;
    pos_ += n + 1;
    return std::string(reinterpret_cast<const char*>(start), n);
  }
  int64_t long1() {
    uint64_t n = le(1);
    if (n > 8) fail("integer wider than 64 bits");
    if (n == 0) return 0;
    uint64_t v = le(static_cast<int>(n));
    if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~0ULL << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  void push(PyRef v) { stack_.push_back(std::move(v)); }
  void push_int(int64_t x) {
    auto v = make(Kind::kInt);
    v->i = x;
    push(v);
  }
  void push_float() {
    const uint8_t* b = take(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | b[i];  // big-endian
    auto v = make(Kind::kFloat);
    std::memcpy(&v->f, &bits, 8);
    push(v);
  }
  void push_string(Kind kind, uint64_t n) {
    const uint8_t* b = take(n);
    auto v = make(kind);
    v->s.assign(reinterpret_cast<const char*>(b), n);
    push(v);
  }
  void need(size_t n) const {
    size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() < floor + n) fail("stack underflow");
  }
  PyRef pop() {
    need(1);
    PyRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const PyRef& top() const {
    need(1);
    return stack_.back();
  }
  std::vector<PyRef> pop_mark() {
    if (marks_.empty()) fail("MARK missing");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  PyRef memo_get(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo key missing");
    return it->second;
  }
  void nest(const PyRef& container, const PyRef& item) {
    check(item.get() != container.get(), "recursive container");
    container->depth = std::max(container->depth, item->depth + 1);
    check(container->depth <= kMaxDepth, "containers nested too deeply");
  }
  PyRef sequence(Kind kind, std::vector<PyRef> items) {
    auto v = make(kind);
    for (const auto& i : items) nest(v, i);
    v->items = std::move(items);
    return v;
  }
  void append(const PyRef& list, std::vector<PyRef> items) {
    check(list->kind == Kind::kList, "APPEND to a non-list");
    for (auto& i : items) {
      nest(list, i);
      list->items.push_back(std::move(i));
    }
  }
  void set_items(const PyRef& dict, std::vector<PyRef> kv) {
    check(dict->kind == Kind::kDict, "SETITEM on a non-dict");
    check(kv.size() % 2 == 0, "odd number of dict items");
    for (size_t i = 0; i < kv.size(); i += 2) {
      nest(dict, kv[i]);
      nest(dict, kv[i + 1]);
      dict->entries.emplace_back(kv[i], kv[i + 1]);
    }
  }

  PyRef global(const std::string& module, const std::string& name) {
    std::string full = module + "." + name;
    bool storage = module == "torch" && storage_dtypes().count(name);
    if (!storage && full != "collections.OrderedDict" && full != "torch._utils._rebuild_tensor_v2" &&
        full != "torch._utils._rebuild_parameter")
      fail("refusing global '" + full + "': only state dicts of tensors can be loaded (no code is ever run)");
    auto v = make(Kind::kGlobal);
    v->s = full;
    return v;
  }

  PyRef persistent_load(const PyRef& pid) {
    // ('storage', torch.FloatStorage, key, location, numel)
    check(pid->kind == Kind::kTuple && pid->items.size() == 5 && pid->items[0]->kind == Kind::kString &&
              pid->items[0]->s == "storage" && pid->items[1]->kind == Kind::kGlobal &&
              pid->items[2]->kind == Kind::kString && pid->items[4]->kind == Kind::kInt && pid->items[4]->i >= 0,
          "unexpected persistent id (expected ('storage', type, key, location, numel))");
    const std::string& type = pid->items[1]->s;
    auto it = storage_dtypes().find(type.substr(type.rfind('.') + 1));
    check(type.rfind("torch.", 0) == 0 && it != storage_dtypes().end(), "persistent id names no storage type");
    auto& slot = storages_[pid->items[2]->s];  // shared storages resolve to one object
    if (!slot) slot = std::make_shared<StorageRef>(StorageRef{it->second, pid->items[2]->s, uint64_t(pid->items[4]->i)});
    auto v = make(Kind::kGlobal);
    v->s = type;
    v->storage = slot;
    return v;
  }

  static std::vector<int64_t> ints(const PyRef& t, bool& ok) {
    std::vector<int64_t> out;
    ok = ok && t->kind == Kind::kTuple;
    if (ok)
      for (const auto& x : t->items) {
        ok = ok && x->kind == Kind::kInt;
        out.push_back(x->i);
      }
    return out;
  }

  PyRef reduce(const PyRef& fn, const PyRef& args) {
    check(fn->kind == Kind::kGlobal && args->kind == Kind::kTuple, "REDUCE needs a global and a tuple");
    if (fn->s == "collections.OrderedDict") return make(Kind::kDict);
    if (fn->s == "torch._utils._rebuild_parameter") {
      check(!args->items.empty() && args->items[0]->kind == Kind::kTensor, "_rebuild_parameter needs a tensor");
      return args->items[0];
    }
    check(fn->s == "torch._utils._rebuild_tensor_v2", "this global cannot be called");
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    const auto& a = args->items;
    check(a.size() >= 4 && a[0]->storage && a[1]->kind == Kind::kInt, "_rebuild_tensor_v2: unexpected arguments");
    bool ok = true;
    auto t = std::make_shared<TensorRef>();
    t->storage = a[0]->storage;
    t->offset = a[1]->i;
    t->size = ints(a[2], ok);
    t->stride = ints(a[3], ok);
    check(ok && t->size.size() == t->stride.size(), "_rebuild_tensor_v2: size and stride must be int tuples of equal length");
    auto v = make(Kind::kTensor);
    v->tensor = t;
    return v;
  }

  void build(const PyRef& state) {
    // OrderedDict state carries the module's _metadata (versions of submodules): not needed.
    const PyRef& obj = top();
    check(obj->kind == Kind::kDict || obj->kind == Kind::kTensor, "BUILD on an unsupported object");
    (void)state;
  }

  PyRef stop() {
    check(stack_.size() == 1 && marks_.empty(), "STOP with an unbalanced stack");
    return stack_.back();
  }

  const uint8_t* p_;
  size_t size_;
  const std::string& source_;
  size_t pos_ = 0, op_at_ = 0;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, PyRef> memo_;
  std::map<std::string, std::shared_ptr<StorageRef>> storages_;
};

}  // namespace

PyRef unpickle(const uint8_t* data, size_t size, const std::string& source) {
  return Unpickler(data, size, source).run();
}

}  // namespace medvqa
