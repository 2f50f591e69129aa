// Core index benchmark: exact search (ours vs FAISS IndexFlat vs the seed's
// "all distances + full sort") and HNSW (ours vs FAISS IndexHNSWFlat), on
// 50,000 x {10, 64, 256} random and clustered ("CIFAR-10-like") vectors with
// 1,000 queries, k = 10. Prints markdown tables (docs/benchmarks.md).
//
//   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 build/bench/index_bench
//       [--sections=exact,hnsw,filter,inplace] [--dims=10,64,256]
//       [--data=random,clustered] [--n=50000] [--queries=1000]
//       [--threads=2] [--repeats=3] [--seed_queries=20]
//
// Each timing is the best of --repeats runs, taken per chunk of queries
// where the queries are searched one by one (the machine is shared). Ours and
// FAISS both get --threads threads (FAISS through OpenMP / OpenBLAS: set the
// environment variables above, they are read when those libraries load).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/index/bitset.h"
#include "common/index/exact.h"
#include "common/index/hnsw.h"
#include "common/index/metric.h"
#include "common/index/vector_store.h"
#include "tests/unit/index/synthetic.h"

#ifdef LS_HAVE_FAISS
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <omp.h>
#endif

namespace latentsearch::index {
namespace {

struct Args {
  size_t n = 50000;
  size_t nq = 1000;
  size_t k = 10;
  int threads = 2;
  int repeats = 3;
  size_t seed_queries = 20;
  std::vector<size_t> dims = {10, 64, 256};
  std::vector<std::string> data = {"random", "clustered"};
  std::vector<std::string> sections = {"exact", "hnsw", "filter"};
};

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string key = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    auto number = [&](auto* out) {
      int64_t v = 0;
      if (!absl::SimpleAtoi(value, &v) || v <= 0) {
        std::fprintf(stderr, "bad value for %s\n", key.c_str());
        std::exit(2);
      }
      *out = static_cast<std::remove_pointer_t<decltype(out)>>(v);
    };
    if (key == "--n") {
      number(&a.n);
    } else if (key == "--queries") {
      number(&a.nq);
    } else if (key == "--threads") {
      number(&a.threads);
    } else if (key == "--repeats") {
      number(&a.repeats);
    } else if (key == "--seed_queries") {
      number(&a.seed_queries);
    } else if (key == "--dims") {
      a.dims.clear();
      for (absl::string_view d : absl::StrSplit(value, ',')) {
        size_t v = 0;
        if (absl::SimpleAtoi(d, &v)) a.dims.push_back(v);
      }
    } else if (key == "--data") {
      a.data = absl::StrSplit(value, ',');
    } else if (key == "--sections") {
      a.sections = absl::StrSplit(value, ',');
    } else {
      std::fprintf(stderr, "unknown flag %s (see the file comment)\n", arg.c_str());
      std::exit(2);
    }
  }
  return a;
}

double Seconds(const std::function<void()>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double Best(int repeats, const std::function<void()>& fn) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) best = std::min(best, Seconds(fn));
  return best;
}

// Time for items [0, n) processed by fn(begin, end) in chunks of `chunk`:
// the sum over chunks of each chunk's best of `repeats` runs. On a shared
// machine this filters out bursts of outside load chunk by chunk (a whole
// run is rarely undisturbed).
double BestChunked(size_t n, size_t chunk, int repeats,
                   const std::function<void(size_t, size_t)>& fn) {
  double total = 0;
  for (size_t b = 0; b < n; b += chunk) {
    const size_t e = std::min(n, b + chunk);
    total += Best(repeats, [&] { fn(b, e); });
  }
  return total;
}

struct Dataset {
  std::string kind;
  size_t dim;
  std::vector<float> base, queries;
};

Dataset MakeData(const std::string& kind, size_t n, size_t nq, size_t dim, Metric metric) {
  Dataset d;
  d.kind = kind;
  d.dim = dim;
  if (kind == "random") {
    d.base = testing::RandomVectors(n, dim, 11);
    d.queries = testing::RandomVectors(nq, dim, 12);
  } else {
    d.base = testing::ClusteredVectors(n, dim, 11);
    d.queries = testing::ClusteredVectors(nq, dim, 12);
  }
  if (metric == Metric::kCosine) {
    NormalizeRows(d.base.data(), n, dim);
    NormalizeRows(d.queries.data(), nq, dim);
  }
  return d;
}

// The seed's method: every distance, then a full sort.
std::vector<uint32_t> SeedSearch(Metric metric, const float* base, size_t n, size_t dim,
                                 const float* q, size_t k) {
  std::vector<std::pair<float, uint32_t>> all(n);
  for (size_t i = 0; i < n; ++i) {
    const float* b = base + i * dim;
    float s = 0;
    for (size_t j = 0; j < dim; ++j) {
      if (metric == Metric::kL1) {
        s += std::fabs(q[j] - b[j]);
      } else if (metric == Metric::kL2) {
        s += (q[j] - b[j]) * (q[j] - b[j]);
      } else {
        s += q[j] * b[j];
      }
    }
    if (metric == Metric::kL2) s = std::sqrt(s);
    if (metric == Metric::kCosine) s = 1 - s;
    all[i] = {s, static_cast<uint32_t>(i)};
  }
  std::sort(all.begin(), all.end());
  std::vector<uint32_t> ids(k);
  for (size_t i = 0; i < k; ++i) ids[i] = all[i].second;
  return ids;
}

double Recall(const std::vector<std::vector<uint32_t>>& got,
              const std::vector<std::vector<Neighbor>>& truth, size_t k) {
  size_t hit = 0, total = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    for (size_t i = 0; i < std::min(k, truth[q].size()); ++i) {
      ++total;
      for (uint32_t id : got[q]) {
        if (id == truth[q][i].slot) {
          ++hit;
          break;
        }
      }
    }
  }
  return total == 0 ? 1.0 : static_cast<double>(hit) / static_cast<double>(total);
}

// Runs fn(q) for q in [0, nq) on `threads` threads (contiguous shares).
void ParallelQueries(size_t nq, int threads, const std::function<void(size_t)>& fn) {
  std::vector<std::thread> workers;
  const size_t share = (nq + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (size_t q = t * share; q < std::min(nq, (t + 1) * share); ++q) fn(q);
    });
  }
  for (std::thread& w : workers) w.join();
}

#ifdef LS_HAVE_FAISS
faiss::MetricType FaissMetric(Metric m) {
  return m == Metric::kL1   ? faiss::METRIC_L1
         : m == Metric::kL2 ? faiss::METRIC_L2
                            : faiss::METRIC_INNER_PRODUCT;
}
#endif

std::string Ratio(double ours, double theirs) {
  if (!(theirs > 0)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", ours / theirs);
  return buf;
}

void ExactSection(const Args& a) {
  std::printf("\n### Exact search, n = %zu, k = %zu, %d threads, QPS (ratios: ours / other)\n\n",
              a.n, a.k, a.threads);
  std::printf(
      "| data | dim | metric | ours 1-by-1 | FAISS 1-by-1 | ratio | ours batch | "
      "FAISS batch | ratio | seed | ours 1-by-1 / seed | ours batch / seed | "
      "agree |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string& kind : a.data) {
    for (size_t dim : a.dims) {
      for (Metric metric : kAllMetrics) {
        Dataset d = MakeData(kind, a.n, a.nq, dim, metric);
        ExactSearchOptions opts;
        opts.k = a.k;
        opts.num_threads = a.threads;
        std::vector<std::vector<Neighbor>> batch, one;
        const double t_batch = Best(a.repeats, [&] {
          ExactSearch(metric, d.base.data(), a.n, dim, d.queries.data(), a.nq, opts, &batch)
              .IgnoreError();
        });
        const double t_single = BestChunked(a.nq, 50, a.repeats, [&](size_t b, size_t e) {
          for (size_t q = b; q < e; ++q) {
            ExactSearch(metric, d.base.data(), a.n, dim, d.queries.data() + q * dim, 1, opts, &one)
                .IgnoreError();
          }
        });
        const size_t sq = std::min(a.seed_queries, a.nq);
        const double t_seed = BestChunked(sq, 1, a.repeats, [&](size_t b, size_t e) {
          for (size_t q = b; q < e; ++q) {
            SeedSearch(metric, d.base.data(), a.n, dim, d.queries.data() + q * dim, a.k);
          }
        });
        const double qps_batch = a.nq / t_batch, qps_single = a.nq / t_single,
                     qps_seed = sq / t_seed;
        double qps_fb = 0, qps_fs = 0, agree = -1;
#ifdef LS_HAVE_FAISS
        {
          omp_set_num_threads(a.threads);
          faiss::IndexFlat flat(static_cast<faiss::Index::idx_t>(dim), FaissMetric(metric));
          flat.add(static_cast<faiss::Index::idx_t>(a.n), d.base.data());
          std::vector<float> dist(a.nq * a.k);
          std::vector<faiss::Index::idx_t> ids(a.nq * a.k);
          const double t_fb = Best(a.repeats, [&] {
            flat.search(static_cast<faiss::Index::idx_t>(a.nq), d.queries.data(),
                        static_cast<faiss::Index::idx_t>(a.k), dist.data(), ids.data());
          });
          const double t_fs = BestChunked(a.nq, 50, a.repeats, [&](size_t b, size_t e) {
            for (size_t q = b; q < e; ++q) {
              flat.search(1, d.queries.data() + q * dim, static_cast<faiss::Index::idx_t>(a.k),
                          dist.data() + q * a.k, ids.data() + q * a.k);
            }
          });
          qps_fb = a.nq / t_fb;
          qps_fs = a.nq / t_fs;
          std::vector<std::vector<uint32_t>> got(a.nq);
          for (size_t q = 0; q < a.nq; ++q) {
            for (size_t i = 0; i < a.k; ++i) {
              got[q].push_back(static_cast<uint32_t>(ids[q * a.k + i]));
            }
          }
          agree = Recall(got, batch, a.k);
        }
#endif
        char agree_s[16] = "n/a";
        if (agree >= 0) std::snprintf(agree_s, sizeof(agree_s), "%.4f", agree);
        std::printf(
            "| %s | %zu | %s | %.0f | %.0f | %s | %.0f | %.0f | %s | %.1f | %s | %s | %s |\n",
            kind.c_str(), dim, std::string(MetricName(metric)).c_str(), qps_single, qps_fs,
            Ratio(qps_single, qps_fs).c_str(), qps_batch, qps_fb, Ratio(qps_batch, qps_fb).c_str(),
            qps_seed, Ratio(qps_single, qps_seed).c_str(), Ratio(qps_batch, qps_seed).c_str(),
            agree_s);
        std::fflush(stdout);
      }
    }
  }
}

// Every query's exact k nearest rows of d (the recall reference).
std::vector<std::vector<Neighbor>> Truth(const Args& a, const Dataset& d, Metric metric) {
  ExactSearchOptions eopts;
  eopts.k = a.k;
  eopts.num_threads = a.threads;
  std::vector<std::vector<Neighbor>> truth;
  ExactSearch(metric, d.base.data(), a.n, d.dim, d.queries.data(), a.nq, eopts, &truth)
      .IgnoreError();
  return truth;
}

std::vector<uint32_t> AllSlots(size_t n) {
  std::vector<uint32_t> slots(n);
  std::iota(slots.begin(), slots.end(), 0u);
  return slots;
}

void HnswSection(const Args& a) {
  const size_t efs[] = {16, 32, 64, 128, 256};
  std::printf(
      "\n### HNSW, n = %zu, M = 16, ef_construction = 200, k = %zu, %d threads "
      "(recall@%zu against our exact search; QPS over %zu queries)\n\n",
      a.n, a.k, a.threads, a.k, a.nq);
  std::printf(
      "| data | dim | metric | build s (ours / FAISS) | ef | recall ours | QPS ours | "
      "recall FAISS | QPS FAISS |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string& kind : a.data) {
    for (size_t dim : a.dims) {
      for (Metric metric : kAllMetrics) {
        Dataset d = MakeData(kind, a.n, a.nq, dim, metric);
        const std::vector<std::vector<Neighbor>> truth = Truth(a, d, metric);
        const std::vector<uint32_t> slots = AllSlots(a.n);
        std::unique_ptr<HnswIndex> index;
        const double t_build = Seconds([&] {
          index = std::move(HnswIndex::Build(metric, dim, d.base.data(), slots.data(), a.n,
                                             HnswParams{}, a.threads)
                                .value());
        });
        double t_fbuild = 0;
#ifdef LS_HAVE_FAISS
        omp_set_num_threads(a.threads);
        std::unique_ptr<faiss::IndexHNSWFlat> fh;
        try {
          fh = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(dim), 16,
                                                      FaissMetric(metric));
          fh->hnsw.efConstruction = 200;
          t_fbuild =
              Seconds([&] { fh->add(static_cast<faiss::Index::idx_t>(a.n), d.base.data()); });
        } catch (const std::exception& e) {
          std::fprintf(stderr, "FAISS HNSW %s: %s\n", std::string(MetricName(metric)).c_str(),
                       e.what());
          fh.reset();
        }
#endif
        for (size_t ef : efs) {
          std::vector<std::vector<uint32_t>> got(a.nq);
          HnswSearchOptions opts;
          opts.k = a.k;
          opts.ef = ef;
          const double t = BestChunked(a.nq, 200, a.repeats, [&](size_t b, size_t e) {
            ParallelQueries(e - b, a.threads, [&](size_t i) {
              HnswResult r = index->Search(d.queries.data() + (b + i) * dim, opts);
              got[b + i].clear();
              for (const Neighbor& nb : r.neighbors) got[b + i].push_back(nb.slot);
            });
          });
          const double recall = Recall(got, truth, a.k);
          double f_recall = -1, f_qps = 0;
#ifdef LS_HAVE_FAISS
          if (fh != nullptr) {
            fh->hnsw.efSearch = static_cast<int>(ef);
            std::vector<float> dist(a.nq * a.k);
            std::vector<faiss::Index::idx_t> ids(a.nq * a.k);
            const double tf = BestChunked(a.nq, 200, a.repeats, [&](size_t b, size_t e) {
              fh->search(static_cast<faiss::Index::idx_t>(e - b), d.queries.data() + b * dim,
                         static_cast<faiss::Index::idx_t>(a.k), dist.data() + b * a.k,
                         ids.data() + b * a.k);
            });
            std::vector<std::vector<uint32_t>> fgot(a.nq);
            for (size_t q = 0; q < a.nq; ++q) {
              for (size_t i = 0; i < a.k; ++i) {
                fgot[q].push_back(static_cast<uint32_t>(ids[q * a.k + i]));
              }
            }
            f_recall = Recall(fgot, truth, a.k);
            f_qps = a.nq / tf;
          }
#endif
          char fr[16] = "n/a", fq[16] = "n/a";
          if (f_recall >= 0) {
            std::snprintf(fr, sizeof(fr), "%.4f", f_recall);
            std::snprintf(fq, sizeof(fq), "%.0f", f_qps);
          }
          std::printf("| %s | %zu | %s | %.1f / %.1f | %zu | %.4f | %.0f | %s | %s |\n",
                      kind.c_str(), dim, std::string(MetricName(metric)).c_str(), t_build, t_fbuild,
                      ef, recall, a.nq / t, fr, fq);
          std::fflush(stdout);
        }
      }
    }
  }
}

// A graph that copies its rows (HnswIndex::Build, hnswlib's layout) against
// one that reads them in place (BuildOver, as the Collection's graphs do
// since the vectors are stored once): build time and single-thread QPS at
// ef 64 and 128, clustered rows, same process, interleaved repeats.
void InPlaceSection(const Args& a) {
  std::printf(
      "\n### HNSW rows copied vs read in place, n = %zu, clustered, M = 16, "
      "ef_construction = 200, k = %zu (build: %d threads; QPS: 1 thread, best of %d)\n\n",
      a.n, a.k, a.threads, a.repeats);
  std::printf(
      "| dim | metric | build s copy / in place | ef | QPS copy | QPS in place | in place ÷ copy "
      "| recall copy / in place |\n|---|---|---|---|---|---|---|---|\n");
  for (size_t dim : a.dims) {
    for (Metric metric : {Metric::kL2, Metric::kCosine}) {
      Dataset d = MakeData("clustered", a.n, a.nq, dim, metric);
      const std::vector<std::vector<Neighbor>> truth = Truth(a, d, metric);
      const std::vector<uint32_t> slots = AllSlots(a.n);
      std::unique_ptr<HnswIndex> copy, in_place;
      const double t_copy = Seconds([&] {
        copy =
            HnswIndex::Build(metric, dim, d.base.data(), slots.data(), a.n, HnswParams{}, a.threads)
                .value();
      });
      // The rows live where a collection keeps them: in a VectorStore.
      VectorStore rows;
      if (!rows.Init(dim, uint64_t{1} << 36).ok() || !rows.Append(d.base.data(), a.n).ok()) {
        std::fprintf(stderr, "cannot store %zu rows of %zu floats\n", a.n, dim);
        std::exit(1);
      }
      const double t_in_place = Seconds([&] {
        in_place = HnswIndex::BuildOver(metric, dim, RowSource{rows.data(), a.n}, slots.data(), a.n,
                                        HnswParams{}, a.threads)
                       .value();
      });
      for (size_t ef : {size_t{64}, size_t{128}}) {
        HnswSearchOptions opts;
        opts.k = a.k;
        opts.ef = ef;
        double best[2] = {1e30, 1e30};
        double recall[2] = {0, 0};
        for (int r = 0; r < a.repeats; ++r) {
          for (int v = 0; v < 2; ++v) {
            const HnswIndex& index = v == 0 ? *copy : *in_place;
            std::vector<std::vector<uint32_t>> got(a.nq);
            best[v] = std::min(best[v], Seconds([&] {
                                 for (size_t q = 0; q < a.nq; ++q) {
                                   for (const Neighbor& nb :
                                        index.Search(d.queries.data() + q * dim, opts).neighbors) {
                                     got[q].push_back(nb.slot);
                                   }
                                 }
                               }));
            recall[v] = Recall(got, truth, a.k);
          }
        }
        std::printf("| %zu | %s | %.2f / %.2f | %zu | %.0f | %.0f | %.2f | %.4f / %.4f |\n", dim,
                    std::string(MetricName(metric)).c_str(), t_copy, t_in_place, ef, a.nq / best[0],
                    a.nq / best[1], best[0] / best[1], recall[0], recall[1]);
        std::fflush(stdout);
      }
    }
  }
}

// Filtered HNSW: the graph walk (forced) against the exact scan of the
// allowed rows, per query on one thread, to place the switch-over.
void FilterSection(const Args& a) {
  const size_t dim = 64;
  std::printf(
      "\n### Filtered HNSW, clustered, n = %zu, dim %zu, k = %zu, one thread, "
      "microseconds per query\n\n",
      a.n, dim, a.k);
  std::printf(
      "| metric | allowed | ef | walk us | walk recall | walk distances | "
      "scan us | auto us | auto path |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (Metric metric : {Metric::kL2, Metric::kL1}) {
    Dataset d = MakeData("clustered", a.n, a.nq, dim, metric);
    std::vector<uint32_t> slots(a.n);
    std::iota(slots.begin(), slots.end(), 0u);
    std::unique_ptr<HnswIndex> index = std::move(
        HnswIndex::Build(metric, dim, d.base.data(), slots.data(), a.n, HnswParams{}, a.threads)
            .value());
    const size_t nq = std::min<size_t>(a.nq, 200);
    std::mt19937 rng(5);
    for (double p : {0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01}) {
      Bitset allowed(a.n);
      std::bernoulli_distribution keep(p);
      for (size_t i = 0; i < a.n; ++i) {
        if (keep(rng)) allowed.Set(i);
      }
      ExactSearchOptions eopts;
      eopts.k = a.k;
      eopts.allowed = &allowed;
      eopts.num_threads = 1;
      std::vector<std::vector<Neighbor>> truth;
      ExactSearch(metric, d.base.data(), a.n, dim, d.queries.data(), nq, eopts, &truth)
          .IgnoreError();
      for (size_t ef : {64, 128}) {
        HnswSearchOptions opts;
        opts.k = a.k;
        opts.ef = ef;
        opts.allowed = &allowed;
        std::vector<std::vector<uint32_t>> got(nq);
        size_t computations = 0, scans = 0, incomplete = 0;
        opts.allow_exact_scan = false;
        const double t_walk = Best(a.repeats, [&] {
          computations = 0;
          for (size_t q = 0; q < nq; ++q) {
            HnswResult r = index->Search(d.queries.data() + q * dim, opts);
            computations += r.distance_computations;
            got[q].clear();
            for (const Neighbor& nb : r.neighbors) got[q].push_back(nb.slot);
          }
        });
        const double recall = Recall(got, truth, a.k);
        opts.allow_exact_scan = true;
        const double t_auto = Best(a.repeats, [&] {
          scans = incomplete = 0;
          for (size_t q = 0; q < nq; ++q) {
            HnswResult r = index->Search(d.queries.data() + q * dim, opts);
            scans += r.exact_scan ? 1 : 0;
            incomplete += r.complete ? 0 : 1;
          }
        });
        std::vector<std::vector<Neighbor>> one;
        const double t_scan = Best(a.repeats, [&] {
          for (size_t q = 0; q < nq; ++q) {
            ExactSearch(metric, d.base.data(), a.n, dim, d.queries.data() + q * dim, 1, eopts, &one)
                .IgnoreError();
          }
        });
        const char* path = scans == nq ? "scan" : scans == 0 ? "walk" : "mixed";
        std::printf("| %s | %.2f | %zu | %.0f | %.4f | %zu | %.0f | %.0f | %s%s |\n",
                    std::string(MetricName(metric)).c_str(), p, ef, 1e6 * t_walk / nq, recall,
                    computations / nq, 1e6 * t_scan / nq, 1e6 * t_auto / nq, path,
                    incomplete > 0 ? " (some incomplete)" : "");
        std::fflush(stdout);
      }
    }
  }
}

}  // namespace
}  // namespace latentsearch::index

int main(int argc, char** argv) {
  using namespace latentsearch::index;
  const Args a = ParseArgs(argc, argv);
  std::printf("kernels: %s; hardware threads: %u; FAISS: %s\n", std::string(KernelIsa()).c_str(),
              std::thread::hardware_concurrency(),
#ifdef LS_HAVE_FAISS
              "yes"
#else
              "not built in"
#endif
  );
  if (Has(a.sections, "exact")) ExactSection(a);
  if (Has(a.sections, "hnsw")) HnswSection(a);
  if (Has(a.sections, "filter")) FilterSection(a);
  if (Has(a.sections, "inplace")) InPlaceSection(a);
  return 0;
}
