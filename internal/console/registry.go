package console

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecrapi"
)

const svcRegistry = ecrapi.SigningName

func (h *Handler) repositoriesPage(r *http.Request, s *session) (*view, error) {
	var repos []ecrapi.Repository
	in := &ecrapi.DescribeRepositoriesRequest{MaxResults: i32(1000)}
	for {
		out, err := call[ecrapi.DescribeRepositoriesResponse](h, r, s, svcRegistry, "DescribeRepositories", in)
		if err != nil {
			return nil, err
		}
		repos = append(repos, out.Repositories...)
		if in.NextToken = out.NextToken; in.NextToken == "" || len(repos) >= maxListed {
			break
		}
	}
	slices.SortFunc(repos, func(a, b ecrapi.Repository) int { return cmp.Compare(a.RepositoryName, b.RepositoryName) })
	return &view{Title: "Repositories", Data: repos, NoLive: true}, nil
}

// repositoryData is a repository's page's.
type repositoryData struct {
	Repository ecrapi.Repository
	Images     []ecrapi.ImageDetail
}

func (h *Handler) repositoryPage(r *http.Request, s *session) (*view, error) {
	name := r.PathValue("name")
	dr, err := call[ecrapi.DescribeRepositoriesResponse](h, r, s, svcRegistry, "DescribeRepositories", &ecrapi.DescribeRepositoriesRequest{RepositoryNames: []string{name}})
	if err != nil {
		return nil, err
	}
	if len(dr.Repositories) == 0 {
		return nil, apierror.New("RepositoryNotFoundException", "The repository with name '%s' does not exist in the registry", name)
	}
	d := &repositoryData{Repository: dr.Repositories[0]}
	in := &ecrapi.DescribeImagesRequest{RepositoryName: name, MaxResults: i32(1000)}
	for {
		out, err := call[ecrapi.DescribeImagesResponse](h, r, s, svcRegistry, "DescribeImages", in)
		if err != nil {
			return nil, err
		}
		d.Images = append(d.Images, out.ImageDetails...)
		if in.NextToken = out.NextToken; in.NextToken == "" || len(d.Images) >= maxListed {
			break
		}
	}
	// Newest push first.
	slices.SortFunc(d.Images, func(a, b ecrapi.ImageDetail) int {
		var ta, tb int64
		if a.ImagePushedAt != nil {
			ta = a.ImagePushedAt.UnixMilli()
		}
		if b.ImagePushedAt != nil {
			tb = b.ImagePushedAt.UnixMilli()
		}
		return cmp.Or(cmp.Compare(tb, ta), cmp.Compare(a.ImageDigest, b.ImageDigest))
	})
	return &view{Title: "Repository " + name, Crumbs: []crumb{{"Repositories", Prefix + "repositories"}}, Data: d}, nil
}
