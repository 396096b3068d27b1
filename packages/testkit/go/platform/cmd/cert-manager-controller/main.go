// Command cert-manager-controller runs cert-manager's own controllers, wired from its public
// packages the way its cmd/controller/app does. That command lives in a module the Go proxy
// does not serve (github.com/cert-manager/cert-manager/controller-binary), so this small main
// stands in for it. Only what the serving-cert platform uses is linked: Certificates,
// CertificateRequests with the CA and self-signed issuers, Issuers and ClusterIssuers, and the
// built-in approver. ACME, Vault, Venafi, the ingress/gateway shims, the webhook and the
// cainjector are left out.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// Each controller registers itself with controllerpkg.Register in init().
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// The issuer types an Issuer or ClusterIssuer may use (their Setup marks them Ready).
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "cert-manager-controller: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	klog.InitFlags(flag.CommandLine)
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file of the API server (required)")
	clusterResourceNamespace := flag.String("cluster-resource-namespace", "cert-manager", "namespace holding the Secrets that ClusterIssuers refer to")
	controllers := flag.String("controllers", "*", "controllers to run, as cert-manager's flag: '*' for all linked ones, '-name' to leave one out (e.g. '*,-certificaterequests-approver')")
	workers := flag.Int("concurrent-workers", 5, "workers per controller")
	minBackoff := flag.Duration("certificate-request-minimum-backoff-duration", time.Hour, "first retry delay after a failed issuance (cert-manager's default: 1h)")
	maxBackoff := flag.Duration("certificate-request-maximum-backoff-duration", 32*time.Hour, "longest retry delay after failed issuances (cert-manager's default: 32h)")
	flag.Parse()
	if *kubeconfig == "" {
		return fmt.Errorf("--kubeconfig is required")
	}
	logf.InitLogs()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ctx = logf.NewContext(ctx, logf.Log)

	enabled, err := selectControllers(*controllers)
	if err != nil {
		return err
	}
	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         *kubeconfig,
		KubernetesAPIQPS:   50,
		KubernetesAPIBurst: 100,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: *clusterResourceNamespace},
		IngressShimOptions: controllerpkg.IngressShimOptions{GatewayAPIExtraProtocols: sets.New[string]()},
		CertificateOptions: controllerpkg.CertificateOptions{
			// cert-manager's default: annotations copied Certificate -> CertificateRequest,
			// except kubectl's and fluxcd's bookkeeping.
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: *minBackoff,
			CertificateRequestMaximumBackoffDuration: *maxBackoff,
		},
	})
	if err != nil {
		return err
	}
	shared, err := factory.Build()
	if err != nil {
		return err
	}

	// Construct every controller first (each registers its informers), then start the
	// informers, then run the controllers: the order cert-manager's own command uses.
	type named struct {
		name string
		ctrl controllerpkg.Interface
	}
	var running []named
	for _, name := range enabled {
		ctrl, err := controllerpkg.Known()[name](factory)
		if err != nil {
			return fmt.Errorf("constructing controller %s: %w", name, err)
		}
		running = append(running, named{name, ctrl})
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())

	logf.Log.Info("starting controllers", "controllers", enabled)
	var wg sync.WaitGroup
	errs := make(chan error, len(running))
	for _, r := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.ctrl.Run(*workers, ctx); err != nil {
				errs <- fmt.Errorf("controller %s: %w", r.name, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// selectControllers reads cert-manager's --controllers syntax against the linked controllers.
func selectControllers(spec string) ([]string, error) {
	known := controllerpkg.Known()
	chosen := sets.New[string]()
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case item == "*":
			for name := range known {
				chosen.Insert(name)
			}
		case strings.HasPrefix(item, "-"):
			chosen.Delete(item[1:])
		default:
			if _, ok := known[item]; !ok {
				names := make([]string, 0, len(known))
				for name := range known {
					names = append(names, name)
				}
				sort.Strings(names)
				return nil, fmt.Errorf("--controllers: unknown controller %q (linked: %s)", item, strings.Join(names, ", "))
			}
			chosen.Insert(item)
		}
	}
	return sets.List(chosen), nil
}
