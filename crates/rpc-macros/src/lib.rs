//! `#[component_api]`: a component's API declared once, as a trait whose
//! methods are each marked `#[read]` or `#[write]`. From that one
//! declaration come
//!
//! * the trait itself (through `async_trait`, so it is object safe);
//! * `rpc::Api for dyn Trait`: the component's name, its method table
//!   (name and kind), the server-side dispatcher — one arm per declared
//!   method, generated, so none can be forgotten — and the remote
//!   constructor;
//! * the remote client (`remote = Name`): the trait over `rpc::RpcClient`,
//!   each call marked read (retried on another instance) or write (never
//!   retried once it may have been sent) from the declaration;
//! * a forwarding trait (`forward = Name`) for wrappers such as the record
//!   cache: every method provided, forwarding to `forward_to()`, so a
//!   wrapper writes only the methods it changes.
//!
//! Use it through the `rpc` crate (`rpc::component_api`), whose doc tests
//! show what does not compile.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Error, FnArg, GenericArgument, Ident, ItemTrait, LitStr, Pat, PathArguments, ReturnType, Token, TraitItem,
    TraitItemFn, Type,
};

/// `component = "posts", remote = RemotePosts, forward = ForwardPosts`
struct Args {
    component: LitStr,
    remote: Ident,
    forward: Option<Ident>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let (mut component, mut remote, mut forward) = (None, None, None);
        for pair in Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated(input)? {
            let key = pair.path.get_ident().map(Ident::to_string).unwrap_or_default();
            match (key.as_str(), &pair.value) {
                ("component", syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. })) => {
                    component = Some(s.clone())
                }
                ("remote", syn::Expr::Path(p)) if p.path.get_ident().is_some() => {
                    remote = p.path.get_ident().cloned();
                }
                ("forward", syn::Expr::Path(p)) if p.path.get_ident().is_some() => {
                    forward = p.path.get_ident().cloned();
                }
                _ => {
                    return Err(Error::new(
                        pair.span(),
                        "expected component = \"name\", remote = TypeName or forward = TraitName",
                    ));
                }
            }
        }
        Ok(Args {
            component: component.ok_or_else(|| input.error("component = \"name\" is required"))?,
            remote: remote.ok_or_else(|| input.error("remote = TypeName is required"))?,
            forward,
        })
    }
}

enum Kind {
    Read { key: Option<Ident> },
    Write,
}

struct Param {
    name: Ident,
    ty: Type,
    /// For `&T`: the owned type the server decodes (`<T as ToOwned>::Owned`).
    owned: Option<Type>,
}

struct Method {
    item: TraitItemFn,
    name: Ident,
    kind: Kind,
    params: Vec<Param>,
}

fn kind_of(item: &mut TraitItemFn) -> syn::Result<Kind> {
    let mut kind = None;
    let mut rest = Vec::new();
    for attr in item.attrs.drain(..) {
        if attr.path().is_ident("read") {
            let mut key = None;
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                attr.parse_nested_meta(|m| {
                    if m.path.is_ident("key") {
                        key = Some(m.value()?.parse::<Ident>()?);
                        Ok(())
                    } else {
                        Err(m.error("expected #[read(key = argument)]"))
                    }
                })?;
            }
            kind = Some(Kind::Read { key });
        } else if attr.path().is_ident("write") {
            kind = Some(Kind::Write);
        } else {
            rest.push(attr);
        }
    }
    item.attrs = rest;
    kind.ok_or_else(|| {
        Error::new(
            item.sig.ident.span(),
            "mark each method #[read] (safe to retry on another instance) or #[write] (never retried once sent)",
        )
    })
}

fn method(mut item: TraitItemFn) -> syn::Result<Method> {
    let kind = kind_of(&mut item)?;
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        return Err(Error::new(sig.span(), "component API methods are async"));
    }
    if !sig.generics.params.is_empty() {
        return Err(Error::new(sig.generics.span(), "component API methods cannot be generic"));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        _ => return Err(Error::new(sig.span(), "component API methods take &self")),
    }
    let mut params = Vec::new();
    for arg in inputs {
        let FnArg::Typed(pt) = arg else { unreachable!("only the first argument can be a receiver") };
        let Pat::Ident(pi) = &*pt.pat else {
            return Err(Error::new(pt.pat.span(), "name each argument with a plain identifier"));
        };
        let owned = match &*pt.ty {
            Type::Reference(r) => {
                if r.mutability.is_some() {
                    return Err(Error::new(r.span(), "arguments cross the wire: &mut cannot"));
                }
                let inner = &r.elem;
                Some(syn::parse_quote!(<#inner as ::std::borrow::ToOwned>::Owned))
            }
            _ => None,
        };
        params.push(Param { name: pi.ident.clone(), ty: (*pt.ty).clone(), owned });
    }
    if let Kind::Read { key: Some(key) } = &kind
        && !params.iter().any(|p| p.name == *key)
    {
        return Err(Error::new(key.span(), "the key names one of the method's arguments"));
    }
    ok_type(&sig.output)?;
    Ok(Method { name: sig.ident.clone(), item, kind, params })
}

/// `T` of `-> Result<T>` or `-> Result<T, E>`.
fn ok_type(output: &ReturnType) -> syn::Result<&Type> {
    let err = || Error::new(output.span(), "component API methods return Result<T> (the component's error)");
    let ReturnType::Type(_, ty) = output else { return Err(err()) };
    let Type::Path(p) = &**ty else { return Err(err()) };
    let last = p.path.segments.last().ok_or_else(err)?;
    if last.ident != "Result" {
        return Err(err());
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return Err(err()) };
    match args.args.first() {
        Some(GenericArgument::Type(t)) => Ok(t),
        _ => Err(err()),
    }
}

#[proc_macro_attribute]
pub fn component_api(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(args as Args);
    let item = syn::parse_macro_input!(input as ItemTrait);
    expand(args, item).unwrap_or_else(Error::into_compile_error).into()
}

fn expand(args: Args, mut item: ItemTrait) -> syn::Result<Tokens> {
    let mut methods = Vec::new();
    for ti in std::mem::take(&mut item.items) {
        match ti {
            TraitItem::Fn(f) => methods.push(method(f)?),
            other => return Err(Error::new(other.span(), "a component API declares methods only")),
        }
    }
    if methods.is_empty() {
        return Err(Error::new(item.ident.span(), "a component API declares at least one method"));
    }
    item.items = methods.iter().map(|m| TraitItem::Fn(m.item.clone())).collect();
    let api = &item.ident;
    let vis = &item.vis;
    let component = &args.component;
    let remote = &args.remote;
    let rpc = quote!(::rpc);

    let table = methods.iter().map(|m| {
        let name = m.name.to_string();
        let kind = match m.kind {
            Kind::Read { .. } => quote!(#rpc::CallKind::Read),
            Kind::Write => quote!(#rpc::CallKind::Write),
        };
        quote!(#rpc::Method { name: #name, kind: #kind })
    });

    let arms = methods.iter().map(|m| {
        let name = &m.name;
        let wire = name.to_string();
        let decoded = m.params.iter().map(|p| p.owned.as_ref().unwrap_or(&p.ty));
        let bind = m.params.iter().map(|p| &p.name);
        let pass = m.params.iter().map(|p| {
            let n = &p.name;
            if p.owned.is_some() { quote!(&#n) } else { quote!(#n) }
        });
        quote! {
            #wire => ::std::boxed::Box::pin(async move {
                let (#(#bind,)*): (#(#decoded,)*) = #rpc::codec::decode(&args)?;
                let answer = api.#name(#(#pass),*).await.map_err(|e| #rpc::to_wire(#component, e))?;
                #rpc::codec::encode(&answer)
            })
        }
    });

    let client_methods = methods.iter().enumerate().map(|(i, m)| {
        let sig = &m.item.sig;
        let names = m.params.iter().map(|p| &p.name);
        let key = match &m.kind {
            Kind::Read { key: Some(k) } => {
                quote!(::std::option::Option::Some(&::std::string::ToString::to_string(&#k)))
            }
            _ => quote!(::std::option::Option::None),
        };
        quote! {
            #sig {
                self.0
                    .call(&<dyn #api as #rpc::Api>::METHODS[#i], #key, &(#(#names,)*))
                    .await
                    .map_err(#rpc::ComponentError::from_call)
            }
        }
    });

    let forward = args.forward.as_ref().map(|fwd| forwarding(api, vis, fwd, &methods));
    let doc_remote =
        format!("[`{api}`] over the network: calls `{}`'s instances through `rpc::RpcClient`.", component.value());

    Ok(quote! {
        #[#rpc::__private::async_trait]
        #item

        impl #rpc::Api for dyn #api {
            const COMPONENT: &'static str = #component;
            const METHODS: &'static [#rpc::Method] = &[#(#table),*];

            fn remote(client: #rpc::RpcClient) -> ::std::sync::Arc<Self> {
                ::std::sync::Arc::new(#remote(client))
            }

            fn dispatch<'a>(
                api: &'a Self,
                method: &'a str,
                args: #rpc::__private::Bytes,
            ) -> #rpc::__private::BoxFuture<'a, ::std::result::Result<#rpc::__private::Bytes, #rpc::WireError>> {
                match method {
                    #(#arms,)*
                    other => ::std::boxed::Box::pin(async move {
                        ::std::result::Result::Err(#rpc::WireError::no_method(#component, other))
                    }),
                }
            }
        }

        #[doc = #doc_remote]
        #[derive(Clone)]
        #vis struct #remote(pub #rpc::RpcClient);

        #[#rpc::__private::async_trait]
        impl #api for #remote {
            #(#client_methods)*
        }

        #forward
    })
}

fn forwarding(api: &Ident, vis: &syn::Visibility, fwd: &Ident, methods: &[Method]) -> Tokens {
    let rpc = quote!(::rpc);
    let provided = methods.iter().map(|m| {
        let sig = &m.item.sig;
        let name = &m.name;
        let names = m.params.iter().map(|p| &p.name);
        quote!(#sig { self.forward_to().#name(#(#names),*).await })
    });
    let blanket = methods.iter().map(|m| {
        let sig = &m.item.sig;
        let name = &m.name;
        let names = m.params.iter().map(|p| &p.name);
        quote!(#sig { <Self as #fwd>::#name(self, #(#names),*).await })
    });
    let doc = format!(
        "A wrapper around another [`{api}`]: every method forwards to [`{fwd}::forward_to`] unless the \
         wrapper overrides it. Implementing this trait implements [`{api}`]."
    );
    let span = Span::call_site();
    let forward_to = format_ident!("forward_to", span = span);
    quote! {
        #[doc = #doc]
        #[#rpc::__private::async_trait]
        #vis trait #fwd: ::std::marker::Send + ::std::marker::Sync + 'static {
            /// The implementation calls go to unless overridden.
            fn #forward_to(&self) -> &dyn #api;
            #(#provided)*
        }

        #[#rpc::__private::async_trait]
        impl<T: #fwd> #api for T {
            #(#blanket)*
        }
    }
}
